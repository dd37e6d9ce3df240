import type { EndpointDetail } from "../data/dashboard-data";

/**
 * Field paths seen in request and response bodies (`io.k8s.api.core.v1.Pod:spec.containers[].image`),
 * grouped by direction and definition; unknown ones marked.
 */
export function FieldTree({ fields }: { fields: EndpointDetail["fields"] }) {
  if (fields.length === 0) return <p className="empty">No body fields recorded for this selection.</p>;
  const groups = new Map<string, EndpointDetail["fields"]>();
  for (const field of fields) {
    const cut = field.field.indexOf(":");
    const key = `${field.direction} · ${cut === -1 ? field.field : field.field.slice(0, cut)}`;
    groups.set(key, [...(groups.get(key) ?? []), field]);
  }
  return (
    <div className="field-tree">
      {[...groups].map(([key, rows]) => (
        <details key={key} open>
          <summary>
            {key} ({rows.length})
          </summary>
          <ul style={{ listStyle: "none", paddingLeft: "0.5rem", margin: 0 }}>
            {[...rows]
              .sort((a, b) => (a.field < b.field ? -1 : 1))
              .map((row) => (
                <li key={row.field}>
                  {row.field.slice(row.field.indexOf(":") + 1)} <span className="muted">×{row.hits}</span>
                  {row.unknown && (
                    <>
                      {" "}
                      <span className="badge badge-alpha">unknown</span>
                    </>
                  )}
                </li>
              ))}
          </ul>
        </details>
      ))}
    </div>
  );
}
