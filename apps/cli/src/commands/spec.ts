import { buildCatalog, type Endpoint } from "@apisnoop/openapi";
import type { Command } from "../command";
import { parseOptions } from "../parse-options";
import { loadSpecOption, SPEC_OPTIONS, SPEC_OPTIONS_HELP } from "../spec-option";

/** An endpoint in apisnoop's published shape (resources/coverage/1.NN.0.json `endpoints[]`). */
export function toApisnoopEndpoint(endpoint: Endpoint) {
  return {
    endpoint: endpoint.operationId,
    path: endpoint.path,
    level: endpoint.level,
    category: endpoint.category,
    group: endpoint.group,
    version: endpoint.version,
    kind: endpoint.kind,
    action: endpoint.action,
    description: endpoint.description,
    deprecated: endpoint.deprecated,
  };
}

export const specCommand: Command = {
  name: "spec",
  help: `Usage: apisnoop spec [--spec live|FILE|URL] [--kubeconfig FILE] [--context NAME]

Prints a JSON array of the spec's endpoints as apisnoop counts them: objects with endpoint (operationId),
path, level, category, group, version, kind, action, description and deprecated. The deprecated
watch/watchlist operations are left out, as apisnoop does.

Options:
${SPEC_OPTIONS_HELP}

Example:
  apisnoop spec --spec ../shared/k8s/openapi/v1.34.swagger.json.gz | jq length    # 859`,
  async run(args, io) {
    const { values } = parseOptions("spec", args, SPEC_OPTIONS);
    const loaded = await loadSpecOption(values, io);
    const catalog = buildCatalog(loaded.spec, values.release ?? loaded.release);
    io.stdout.write(`${JSON.stringify(catalog.endpoints.map(toApisnoopEndpoint), null, 2)}\n`);
    return 0;
  },
};
