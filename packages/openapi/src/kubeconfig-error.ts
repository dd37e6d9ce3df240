/**
 * One line for an error from loading a kubeconfig, or any file that can hold credentials, that never
 * quotes the file. js-yaml's `message` (and so client-node's `loadFromFile` errors) carries a snippet of
 * the lines around a syntax error, which in a kubeconfig are a `token:` or a `client-key-data:`; and some
 * of its reasons quote an alias or tag name taken from the text. So a YAML error is its reason, with
 * anything quoted from the file cut out, and its line and column; Node's JSON.parse errors quote the text
 * too and are reduced to "not valid JSON"; any other error is the first line of its message (file system
 * errors name the file, never its content).
 */
export function kubeconfigErrorLine(error: unknown): string {
  const yaml = error as { reason?: unknown; mark?: { line?: unknown; column?: unknown } } | null;
  if (
    typeof yaml?.reason === "string" &&
    typeof yaml.mark?.line === "number" &&
    typeof yaml.mark.column === "number"
  ) {
    const reason = yaml.reason
      .replace(/"[^"]*"/g, '"…"')
      .replace(/!<[^>]*>/g, "!<…>")
      .replace(/: .*/s, "");
    return `${reason} (line ${yaml.mark.line + 1}, column ${yaml.mark.column + 1})`;
  }
  if (error instanceof SyntaxError) return "not valid JSON";
  const message = error instanceof Error ? error.message : String(error);
  return (message.split("\n")[0] ?? "").slice(0, 300);
}
