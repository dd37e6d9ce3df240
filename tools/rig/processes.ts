/**
 * The rig's processes as the operating system sees them: spawned detached in their own process group,
 * recognised by PID and executable (so a recycled PID is never signalled), stopped as a group.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** The executable path (argv[0]) of a live, non-zombie process, or undefined. */
export function processExecutable(pid: number | undefined): string | undefined {
  if (!pid) return undefined;
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const zombie = / Z /.test(stat.slice(stat.lastIndexOf(")")));
    return zombie ? undefined : argv0;
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive (a process we may not signal counts as alive). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Signals a process group (each rig process leads its own); a process that is already gone is fine. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }
}

/**
 * SIGTERM to the group of `pid`, SIGKILL after `graceMs` while `isAlive()` still holds; resolves once it
 * no longer does.
 */
export async function stopGroup(pid: number, isAlive: () => boolean, graceMs = 15_000): Promise<void> {
  signalGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isAlive() && Date.now() < deadline) await sleep(100);
  if (isAlive()) {
    signalGroup(pid, "SIGKILL");
    while (isAlive()) await sleep(50);
  }
}

/**
 * Starts `command` detached (its own session and process group, so it outlives `npm run rig:up` and dies as
 * a group), appending stdout and stderr to `logFile`.
 */
export function spawnDetached(command: string, args: string[], logFile: string, cwd: string): ChildProcess {
  const log = openSync(logFile, "a");
  const child = spawn(command, args, { detached: true, stdio: ["ignore", log, log], cwd });
  child.unref();
  return child;
}

/**
 * Resolves once process `pid` runs `executable` (a launcher such as nsenter has exec'ed it), or rejects
 * when it exits first or does not get there within `timeoutMs`.
 */
export async function untilExecuted(pid: number, executable: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = processExecutable(pid);
    if (now === executable) return;
    if (now === undefined) throw new Error(`process ${pid} exited before running ${executable}`);
    if (Date.now() > deadline) throw new Error(`process ${pid} still runs ${now}, not ${executable}`);
    await sleep(20);
  }
}
