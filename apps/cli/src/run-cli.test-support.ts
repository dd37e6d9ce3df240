import { PassThrough } from "node:stream";
import { main } from "./main";

/** Test support: runs the CLI in-process with `stdin`; returns the exit code and both outputs. */
export async function runCli(
  args: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
  let stdout = "";
  let stderr = "";
  io.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  io.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  io.stdin.end(stdin);
  const code = await main(args, io);
  return { code, stdout, stderr };
}
