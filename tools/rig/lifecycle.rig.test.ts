/**
 * rig:up / rig:status / rig:down semantics, on a second rig in a temporary RIG_DIR so the shared rig of
 * the other test files is untouched: loopback only, idempotent start, secrets 0600, nothing left after stop.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRigProcess, rigStatus, startRig, stopRig } from "./lifecycle";
import { type RigState, rigKubeconfigPath, rigStatePath } from "./rig";

/** `ip:port` of every TCP socket `pid` listens on, read from /proc (no ss/netstat needed). */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // fd closed while listing
    }
  }
  const addresses: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, state, inode] = [cols[1], cols[3], cols[9]];
      if (state !== "0A" || !local || !inode || !inodes.has(inode)) continue; // 0A = LISTEN
      const [hexIp = "", hexPort = ""] = local.split(":");
      const ip =
        hexIp.length === 8
          ? (hexIp.match(/../g) ?? [])
              .reverse()
              .map((byte) => Number.parseInt(byte, 16))
              .join(".")
          : `[${hexIp}]`;
      addresses.push(`${ip}:${Number.parseInt(hexPort, 16)}`);
    }
  }
  return addresses;
}

describe("API-only rig lifecycle (a separate rig in a temporary RIG_DIR)", () => {
  const dir = mkdtempSync(join(tmpdir(), "apisnoop-rig-lifecycle-"));
  const savedRigDir = process.env.RIG_DIR;
  let state: RigState;

  beforeAll(async () => {
    process.env.RIG_DIR = dir;
    const result = await startRig("cli", () => undefined, { node: false });
    expect(result.started).toBe(true);
    state = result.state;
  }, 300_000);

  afterAll(async () => {
    await stopRig();
    if (savedRigDir === undefined) delete process.env.RIG_DIR;
    else process.env.RIG_DIR = savedRigDir;
    rmSync(dir, { recursive: true, force: true });
  });

  it("listens on 127.0.0.1 only", () => {
    const pids = Object.values(state.pids).filter((pid): pid is number => typeof pid === "number");
    const addresses = pids.flatMap(listeningAddresses);
    expect(addresses).toContain(`127.0.0.1:${state.ports.apiserver}`);
    expect(addresses).toContain(`127.0.0.1:${state.ports.etcd}`);
    expect(addresses.filter((address) => !address.startsWith("127.0.0.1:"))).toEqual([]);
  });

  it("answers /readyz through kubectl and keeps secrets at mode 0600", () => {
    const readyz = execFileSync(
      "kubectl",
      ["--kubeconfig", rigKubeconfigPath("admin"), "get", "--raw", "/readyz"],
      {
        encoding: "utf8",
      },
    );
    expect(readyz).toBe("ok");
    for (const file of [state.tokensFile, rigStatePath(), ...Object.values(state.kubeconfigs)]) {
      expect((statSync(file).mode & 0o777).toString(8), file).toBe("600");
    }
  });

  it("is idempotent: a second start reports the running rig", async () => {
    const again = await startRig("cli", () => undefined, { node: false });
    expect(again.started).toBe(false);
    expect(again.state.pids).toEqual(state.pids);
    expect(Object.values(rigStatus().running).every(Boolean)).toBe(true);
  });

  it("stops exactly what it started and leaves no process", async () => {
    const stopped = await stopRig();
    expect(stopped.sort()).toEqual(Object.keys(state.pids).sort());
    for (const [component, pid] of Object.entries(state.pids)) {
      expect(isRigProcess(pid, component as keyof RigState["pids"], state.binDir), component).toBe(false);
    }
    expect(rigStatus().state).toBeNull();
  });
});
