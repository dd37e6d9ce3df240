/** An error meant for the user: printed as one line on stderr, never with a stack trace (unless --debug). */
export class CliError extends Error {
  constructor(
    message: string,
    /** Process exit code; 2 for bad usage, 1 for failures. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}
