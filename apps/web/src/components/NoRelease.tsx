/** Shown while no release's spec is loaded yet (the first start is still loading one). */
export function NoRelease() {
  return (
    <section className="notice" role="status">
      <h2>No Kubernetes release loaded yet</h2>
      <p>
        apisnoop loads the connected cluster's OpenAPI spec, or else the latest release's published spec, when
        it starts. If this persists, check the server's output: it says where it tried to read the spec from.
      </p>
    </section>
  );
}
