/**
 * The redirect init container's script (apps/webhook/redirect/apisnoop-redirect.sh) run for real, as root,
 * in a network namespace of its own (`unshare -n`, gone with the process): the rule it adds sends a
 * connection to the apiserver's address to the proxy's, it stays one rule when run again, and it fails —
 * so the pod never starts unrouted — on settings it cannot use.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const script = join(dirname(fileURLToPath(import.meta.url)), "..", "redirect", "apisnoop-redirect.sh");

function can(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: "ignore" }).status === 0;
}
/** Root with `unshare` and iptables: what the init container has in the pod. */
const runnable = process.getuid?.() === 0 && can("unshare", ["-n", "true"]) && can("iptables", ["--version"]);

/**
 * Runs `steps` (shell) in a new network namespace with `lo` and a veth pair, one end holding 10.99.0.2/24 (the
 * "proxy"); the apiserver's address 10.96.0.1 is routed through that end and answered by nobody.
 */
function inNetns(steps: string, env: Record<string, string> = {}) {
  const setup = [
    "set -eu",
    "ip link set lo up",
    "ip link add apisnoop0 type veth peer name apisnoop1",
    "ip addr add 10.99.0.2/24 dev apisnoop0",
    "ip link set apisnoop0 up",
    "ip link set apisnoop1 up",
    "ip route add 10.96.0.0/24 dev apisnoop0",
  ].join("\n");
  return spawnSync("unshare", ["-n", "sh", "-c", `${setup}\n${steps}`], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
}

/** A TCP server on 10.99.0.2:8443 answering "proxy", and a client to 10.96.0.1:443 printing what it got. */
const roundTrip = `
node -e '
const net = require("node:net");
const server = net.createServer((socket) => socket.end("proxy")).listen(8443, "10.99.0.2", () => {
  const client = net.connect({ host: "10.96.0.1", port: 443, timeout: 5000 });
  let got = "";
  client.on("data", (chunk) => (got += chunk));
  client.on("end", () => { console.log("answered: " + got); server.close(); });
  client.on("timeout", () => { console.log("answered: nothing"); process.exit(0); });
  client.on("error", (error) => { console.log("answered: " + error.code); process.exit(0); });
});'`;

const route = { APISNOOP_REDIRECT_FROM: "10.96.0.1:443", APISNOOP_REDIRECT_TO: "10.99.0.2:8443" };

describe.skipIf(!runnable)("apisnoop-redirect.sh in a network namespace", () => {
  it("sends connections to the apiserver's address to the proxy, and nothing else", () => {
    const without = inNetns(roundTrip);
    expect(without.stdout).toMatch(/answered: (nothing|EHOSTUNREACH|ECONNREFUSED)/);
    const run = inNetns(`sh ${script}\n${roundTrip}\niptables -t nat -S OUTPUT`, route);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("apisnoop-redirect: tcp 10.96.0.1:443 -> 10.99.0.2:8443");
    expect(run.stdout).toContain(
      "-A APISNOOP_REDIRECT -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 10.99.0.2:8443",
    );
    expect(run.stdout).toContain("answered: proxy");
    expect(run.stdout).toContain("-A OUTPUT -j APISNOOP_REDIRECT");
  });

  it("keeps one rule when it runs again (an init container restarted)", () => {
    const run = inNetns(`sh ${script} >/dev/null\nsh ${script} >/dev/null\niptables -t nat -S`, route);
    expect(run.status).toBe(0);
    expect(run.stdout.match(/-j DNAT/g)).toHaveLength(1);
    expect(run.stdout.match(/-A OUTPUT -j APISNOOP_REDIRECT/g)).toHaveLength(1);
  });

  it("fails, adding nothing, on an address it cannot use", () => {
    for (const [env, message] of [
      [{ APISNOOP_REDIRECT_FROM: "10.96.0.1:443" }, /APISNOOP_REDIRECT_TO .* is not set/],
      [{ ...route, APISNOOP_REDIRECT_TO: "apisnoop-proxy:8443" }, /'apisnoop-proxy:8443' is not IPv4:port/],
      [{ ...route, APISNOOP_REDIRECT_FROM: "[fd00::1]:443" }, /'\[fd00::1\]:443' is not IPv4:port/],
    ] as const) {
      const run = inNetns(`sh ${script}`, env);
      expect(run.status, JSON.stringify(env)).not.toBe(0);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe("");
    }
  });

  it("fails when iptables cannot add the rule, so the pod's containers never start unrouted", () => {
    // No NET_ADMIN: the capability the webhook grants the init container, dropped here.
    const run = inNetns(`exec setpriv --inh-caps=-net_admin --bounding-set=-net_admin sh ${script}`, route);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/Permission denied/);
    expect(run.stdout).not.toContain("apisnoop-redirect: tcp");
  });
});

it("the script's shell is POSIX sh", () => {
  expect(execFileSync("sh", ["-n", script], { encoding: "utf8" })).toBe("");
});
