/**
 * Who may start and stop a rig directory: `.rig/lock` serialises starts and stops across processes, and
 * `.rig/clients/<pid>` counts the test runs using a rig that a test run started.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { rigLayout } from "./layout";
import { pidAlive } from "./processes";
import { rigDir } from "./rig";

/**
 * Runs `fn` holding `.rig/lock`, so concurrent `rig:up`, `rig:down` and vitest runs sharing one checkout
 * never start two rigs or stop one half-way through another's start. A lock whose holder died is taken over.
 */
export async function withRigLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(rigDir(), { recursive: true, mode: 0o700 });
  const { lock } = rigLayout(rigDir());
  // Generous: the holder may be running a cold build.
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(readFileSync(lock, "utf8").trim() || "0");
      if (!holder || !pidAlive(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`rig: ${lock} held by pid ${holder} for too long`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Records that process `pid` (a vitest run) uses the rig, so another run's teardown leaves it up. */
export function registerRigClient(pid: number = process.pid): void {
  const { clients } = rigLayout(rigDir());
  mkdirSync(clients, { recursive: true });
  writeFileSync(join(clients, String(pid)), "");
}

/** Removes `pid`'s client record; returns the PIDs of other live clients. */
export function unregisterRigClient(pid: number = process.pid): number[] {
  rmSync(join(rigLayout(rigDir()).clients, String(pid)), { force: true });
  return otherRigClients(pid);
}

/** The PIDs of live clients other than `pid` (records of dead ones are removed). */
export function otherRigClients(pid: number = process.pid): number[] {
  const { clients } = rigLayout(rigDir());
  if (!existsSync(clients)) return [];
  const others: number[] = [];
  for (const name of readdirSync(clients)) {
    const other = Number(name);
    if (other === pid) continue;
    if (pidAlive(other)) others.push(other);
    else rmSync(join(clients, name), { force: true });
  }
  return others;
}
