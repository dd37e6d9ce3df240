/** One `apisnoop` sub-command: a thin layer over the packages. */
export interface Command {
  name: string;
  /** Full `--help` text. */
  help: string;
  /** Runs the command; resolves to the exit code. */
  run(args: string[], io: CommandIO): Promise<number>;
}

/** The process streams, injectable so tests can run commands in-process. */
export interface CommandIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}
