import { CliError } from "./cli-error";
import type { Command, CommandIO } from "./command";
import { compareCommand } from "./commands/compare";
import { kubeconfigCommand } from "./commands/kubeconfig";
import { matchCommand } from "./commands/match";
import { proxyCommand } from "./commands/proxy";
import { specCommand } from "./commands/spec";

/** Every sub-command, in the order `apisnoop --help` lists them. */
export const COMMANDS: Command[] = [
  specCommand,
  matchCommand,
  proxyCommand,
  kubeconfigCommand,
  compareCommand,
];

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
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`apisnoop: unknown command '${name}' (see 'apisnoop --help')\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout.write(`${command.help}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`apisnoop ${name}: ${message.split("\n")[0]}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return error instanceof CliError ? error.exitCode : 1;
  }
}
