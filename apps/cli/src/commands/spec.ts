import { buildCatalog, type Endpoint } from "@apisnoop/openapi";
import type { Command, CommandIO } from "../command";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP, withDatabase } from "../database-option";
import { parseOptions } from "../parse-options";
import { resolveRelease, storeRelease } from "../release-option";
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
       apisnoop spec add --release 1.NN [--file F | --url U] [--default]

apisnoop spec prints a JSON array of the spec's endpoints as apisnoop counts them: objects with endpoint (operationId),
path, level, category, group, version, kind, action, description and deprecated. The deprecated
watch/watchlist operations are left out, as apisnoop does.

apisnoop spec add stores a release's endpoints in the database (with apisnoop's conformance-ineligible
list), so coverage can be shown and compared for releases no cluster here runs. The spec comes from
--file/--url, else $APISNOOP_REFERENCE_DIR/openapi/v1.NN.swagger.json.gz, else kubernetes/kubernetes on
GitHub (downloaded once, cached). --default makes it the release the dashboard shows first.

Options:
${SPEC_OPTIONS_HELP}
${DATABASE_OPTIONS_HELP}

Examples:
  apisnoop spec --spec ../shared/k8s/openapi/v1.34.swagger.json.gz | jq length    # 859
  APISNOOP_REFERENCE_DIR=../shared/k8s apisnoop spec add --release 1.33`,
  async run(args, io) {
    if (args[0] === "add") return addRelease(args.slice(1), io);
    const { values } = parseOptions("spec", args, SPEC_OPTIONS);
    const loaded = await loadSpecOption(values, io);
    const catalog = buildCatalog(loaded.spec, values.release ?? loaded.release);
    io.stdout.write(`${JSON.stringify(catalog.endpoints.map(toApisnoopEndpoint), null, 2)}\n`);
    return 0;
  },
};

async function addRelease(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseOptions("spec", args, {
    release: { type: "string" },
    file: { type: "string" },
    url: { type: "string" },
    default: { type: "boolean" },
    ...DATABASE_OPTIONS,
  });
  const spec = values.file ?? values.url;
  const resolved = await resolveRelease(
    { ...(values.release ? { release: values.release } : {}), ...(spec ? { spec } : {}) },
    io,
  );
  const stored = await withDatabase(values, io, (db) =>
    storeRelease(db, resolved, values.default ? { isDefault: true } : {}),
  );
  io.stdout.write(
    `stored release ${stored.release}: ${stored.endpoints} endpoints (+${stored.watchOperations} watch operations) from ${resolved.origin}\n`,
  );
  return 0;
}
