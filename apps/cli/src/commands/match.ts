import { createInterface } from "node:readline";
import { buildCatalog, compileMatcher, type RequestMatcher } from "@apisnoop/openapi";
import type { Command, CommandIO } from "../command";
import { parseOptions } from "../parse-options";
import { loadSpecOption, SPEC_OPTIONS, SPEC_OPTIONS_HELP } from "../spec-option";

/** Matches one input line; a malformed line yields an `error` instead of stopping the run. */
export function matchLine(matcher: RequestMatcher, line: string): Record<string, unknown> {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    return { error: 'not a JSON object: expected {"method": "...", "url": "..."}' };
  }
  const { method, url } = (request ?? {}) as { method?: unknown; url?: unknown };
  if (typeof method !== "string" || typeof url !== "string" || method === "" || url === "") {
    return { method, url, error: 'expected string fields "method" and "url"' };
  }
  const { operationId, reason, detail } = matcher.match(method, url);
  return { method, url, operationId, ...(reason ? { reason } : {}), ...(detail ? { detail } : {}) };
}

async function writeLines(io: CommandIO, matcher: RequestMatcher): Promise<void> {
  const lines = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  let buffer = "";
  for await (const line of lines) {
    buffer += `${JSON.stringify(matchLine(matcher, line))}\n`;
    // Write in blocks, honouring back-pressure, so millions of lines stream in constant memory.
    if (buffer.length > 64 * 1024) {
      if (!io.stdout.write(buffer)) await new Promise((resolve) => io.stdout.once("drain", resolve));
      buffer = "";
    }
  }
  if (buffer) io.stdout.write(buffer);
}

export const matchCommand: Command = {
  name: "match",
  help: `Usage: apisnoop match [--spec live|FILE|URL] [--kubeconfig FILE] [--context NAME] < requests.jsonl

Reads JSON lines {"method": "GET", "url": "/api/v1/namespaces/default/pods?watch=true"} on stdin and writes
one JSON line per input line, in order: {"method", "url", "operationId": string|null, "reason"?, "detail"?}.
reason says why nothing matched (no such path, method not allowed, group not served by this spec, version not
served by this spec); detail is "watch" for ?watch=true on a list and "deprecated watch path" for /watch/.
A malformed input line yields a line with an "error" field; the run goes on.

Options:
${SPEC_OPTIONS_HELP}

Example:
  echo '{"method":"GET","url":"/api/v1/namespaces/default/pods"}' | apisnoop match --spec v1.34.swagger.json.gz`,
  async run(args, io) {
    const { values } = parseOptions("match", args, SPEC_OPTIONS);
    const loaded = await loadSpecOption(values, io);
    await writeLines(io, compileMatcher(buildCatalog(loaded.spec, values.release ?? loaded.release)));
    return 0;
  },
};
