import { type ParseArgsConfig, parseArgs } from "node:util";
import { CliError } from "./cli-error";

/**
 * Parses a command's options strictly; unknown options or missing values become a one-line usage error
 * (exit 2) that names the command's --help.
 */
export function parseOptions<T extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new CliError(`${(error as Error).message} (see 'apisnoop ${command} --help')`, 2);
  }
}
