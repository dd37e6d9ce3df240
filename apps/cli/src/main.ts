import { DownloadError, REFERENCE_LAYOUT } from "@apisnoop/openapi";
import { CliError } from "./cli-error";
import type { Command, CommandIO } from "./command";

/**
 * Every sub-command, in the order `apisnoop --help` lists them. Each loads its module only when run, so
 * `apisnoop match` does not pay for the proxy's or the database's imports.
 */
export const COMMANDS: { name: string; summary: string; load: () => Promise<Command> }[] = [
  {
    name: "spec",
    summary: "print a release's endpoints (apisnoop's shape, watch operations excluded)",
    load: async () => (await import("./commands/spec")).specCommand,
  },
  {
    name: "match",
    summary: "match requests (JSON lines on stdin) to their endpoints",
    load: async () => (await import("./commands/match")).matchCommand,
  },
  {
    name: "proxy",
    summary: "run the MITM proxy between Kubernetes clients and the apiserver, recording every call",
    load: async () => (await import("./commands/proxy")).proxyCommand,
  },
  {
    name: "kubeconfig",
    summary: "write a kubeconfig that sends a client's traffic through the apisnoop proxy",
    load: async () => (await import("./commands/kubeconfig")).kubeconfigCommand,
  },
  {
    name: "compare",
    summary: "compare two releases' endpoints: added, removed, promoted, newly deprecated",
    load: async () => (await import("./commands/compare")).compareCommand,
  },
  {
    name: "import",
    summary: "import audit logs or apisnoop's published coverage into the database",
    load: async () => (await import("./commands/import")).importCommand,
  },
  {
    name: "report",
    summary: "deprecated and removed endpoints a workload calls, with CI exit codes",
    load: async () => (await import("./commands/report")).reportCommand,
  },
  {
    name: "priorities",
    summary: "what workloads use that conformance tests do not, ranked: the tests to write next",
    load: async () => (await import("./commands/priorities")).prioritiesCommand,
  },
  {
    name: "export",
    summary: "export coverage in apisnoop's JSON format or as JUnit",
    load: async () => (await import("./commands/export")).exportCommand,
  },
];

/** What to do when a release's published data cannot be downloaded. */
const OFFLINE_WAY_OUT =
  `offline? set APISNOOP_REFERENCE_DIR to a folder with the published data (${REFERENCE_LAYOUT}), ` +
  "or give the spec yourself: --spec FILE (a swagger.json) or --spec live (the kubeconfig's cluster)";

const USAGE = `apisnoop — which parts of the Kubernetes API a workload uses and a test suite exercises

Usage: apisnoop <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)}${c.summary}`).join("\n")}

Run 'apisnoop <command> --help' for a command's options. Add --debug to any command for stack traces.`;

/**
 * Runs the CLI with the given arguments and returns the exit code. Errors become one line on stderr
 * (a stack trace only with --debug).
 */
export async function main(argv: string[], io: CommandIO = process): Promise<number> {
  const debug = argv.includes("--debug");
  const args = argv.filter((a) => a !== "--debug");
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.stderr.write(`apisnoop: unknown command '${name}' (see 'apisnoop --help')\n`);
    return 2;
  }
  try {
    const command = await entry.load();
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout.write(`${command.help}\n`);
      return 0;
    }
    return await command.run(rest, io);
  } catch (error) {
    let message = error instanceof Error ? error.message : String(error);
    if (error instanceof DownloadError) message += `: ${OFFLINE_WAY_OUT}`;
    io.stderr.write(`apisnoop ${name}: ${message.split("\n")[0]}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return error instanceof CliError ? error.exitCode : 1;
  }
}
