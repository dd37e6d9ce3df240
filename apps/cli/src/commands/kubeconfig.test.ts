import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { sharedSpecPath } from "@apisnoop/openapi/testing";
import { caFingerprint, type RunningProxy, startProxy } from "@apisnoop/proxy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../run-cli.test-support";
import { proxyBanner } from "./proxy";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-cli-kc-"));
const from = path.join(dir, "config");
writeFileSync(
  from,
  `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443"}}]
users: [{name: u, user: {token: t0ken}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
);
const caDir = path.join(dir, "ca");

describe("apisnoop kubeconfig", () => {
  it("writes a reverse-mode kubeconfig trusting the proxy's CA (created on first use)", async () => {
    const { code, stdout, stderr } = await runCli([
      "kubeconfig",
      "--from",
      from,
      "--proxy",
      "https://127.0.0.1:8443",
      "--ca-dir",
      caDir,
    ]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("server: https://127.0.0.1:8443\n");
    const caData = /certificate-authority-data: (\S+)/.exec(stdout)?.[1] ?? "";
    expect(Buffer.from(caData, "base64").toString()).toContain("BEGIN CERTIFICATE");
    expect(stdout).toContain("token: t0ken\n");
  });

  it("writes proxy-url in forward mode", async () => {
    const { stdout } = await runCli([
      "kubeconfig",
      "--from",
      from,
      "--proxy",
      "https://127.0.0.1:8443",
      "--mode",
      "forward",
      "--ca-dir",
      caDir,
    ]);
    expect(stdout).toContain("server: https://10.0.0.1:6443\n");
    expect(stdout).toContain("proxy-url: http://127.0.0.1:8443\n");
  });

  it.each([
    [["--proxy", "https://127.0.0.1:8443"], "--from FILE is required"],
    [["--from", from], "--proxy https://HOST:PORT is required"],
    [["--from", from, "--proxy", "http://127.0.0.1:8443"], "--proxy must be https://HOST:PORT"],
    [
      ["--from", from, "--proxy", "https://127.0.0.1:8443", "--mode", "sideways"],
      "--mode must be reverse or forward",
    ],
  ])("rejects bad usage with one line and exit 2: %j", async (args, message) => {
    const { code, stderr } = await runCli(["kubeconfig", ...args, "--ca-dir", caDir]);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });

  it("names a missing context in one line", async () => {
    const { code, stderr } = await runCli([
      "kubeconfig",
      "--from",
      from,
      "--context",
      "nope",
      "--proxy",
      "https://127.0.0.1:1",
      "--ca-dir",
      caDir,
    ]);
    expect(code).toBe(1);
    expect(stderr).toBe(`apisnoop kubeconfig: kubeconfig ${from} has no context 'nope'\n`);
  });
});

describe("apisnoop proxy", () => {
  it("rejects a malformed --listen with exit 2", async () => {
    const { code, stderr } = await runCli(["proxy", "--listen", "nowhere"]);
    expect(code).toBe(2);
    expect(stderr).toContain("--listen: 'nowhere' is not host:port");
  });

  it("fails in one line when the kubeconfig cannot be read", async () => {
    const { code, stderr } = await runCli([
      "proxy",
      "--kubeconfig",
      path.join(dir, "missing"),
      "--listen",
      "127.0.0.1:0",
      "--admin-listen",
      "none",
      "--ca-dir",
      caDir,
    ]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^apisnoop proxy: cannot load kubeconfig .*missing/);
  });

  it("writes --output FILE readable by its owner only, replacing a world-readable one", async () => {
    const output = path.join(dir, "proxied.yaml");
    writeFileSync(output, "old\n");
    chmodSync(output, 0o644);
    const { code, stdout, stderr } = await runCli([
      "kubeconfig",
      "--from",
      from,
      "--proxy",
      "https://127.0.0.1:8443",
      "--ca-dir",
      caDir,
      "--output",
      output,
    ]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toBe("");
    expect(statSync(output).mode & 0o777).toBe(0o600);
    expect(readFileSync(output, "utf8")).toContain("token: t0ken\n");
  });

  it("says in one line when --output cannot be written, and leaves nothing behind", async () => {
    const output = path.join(dir, "no-such-dir", "proxied.yaml");
    const { code, stderr } = await runCli([
      "kubeconfig",
      "--from",
      from,
      "--proxy",
      "https://127.0.0.1:8443",
      "--ca-dir",
      caDir,
      "--output",
      output,
    ]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^apisnoop kubeconfig: --output .*no-such-dir.*ENOENT.*\n$/);
  });
});

describe("the proxy's start message and the CA", () => {
  let proxy: RunningProxy;
  const proxyCaDir = path.join(dir, "proxy-ca");
  const caOf = (kubeconfig: string) =>
    Buffer.from(/certificate-authority-data: (\S+)/.exec(kubeconfig)?.[1] ?? "", "base64").toString();

  beforeAll(async () => {
    proxy = await startProxy({
      kubeconfig: from,
      listen: { host: "127.0.0.1", port: 0 },
      adminListen: { host: "127.0.0.1", port: 0 },
      spec: sharedSpecPath("1.34"),
      specRefreshIntervalMs: 0,
      caDir: proxyCaDir,
    });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it("prints the exact kubeconfig command, whose kubeconfig trusts this proxy's CA", async () => {
    const banner = proxyBanner(proxy, { kubeconfig: from, context: "x", caDir: proxyCaDir });
    const line = banner.split("\n").find((l) => l.startsWith("  reverse: apisnoop kubeconfig "));
    expect(line).toContain(`--context x --proxy ${proxy.url} --ca-dir ${proxyCaDir} --output proxied.yaml`);
    expect(banner).toContain(`SHA-256 ${caFingerprint(proxy.ca.certificatePem)}`);
    const args = (line as string)
      .replace("  reverse: apisnoop ", "")
      .replace("proxied.yaml", path.join(dir, "banner.yaml"));
    const { code, stderr } = await runCli(args.split(" "));
    expect([code, stderr]).toEqual([0, ""]);
    expect(caOf(readFileSync(path.join(dir, "banner.yaml"), "utf8"))).toBe(proxy.ca.certificatePem);
  });

  it("reads the CA from a running proxy's admin port with --ca-from", async () => {
    const adminUrl = proxy.adminUrl as string;
    const banner = proxyBanner(proxy, { kubeconfig: from, caDir: proxyCaDir });
    expect(banner).toContain(`--ca-from ${adminUrl} instead of --ca-dir`);
    const { code, stdout, stderr } = await runCli([
      "kubeconfig",
      "--from",
      from,
      "--proxy",
      proxy.url,
      "--ca-from",
      adminUrl,
    ]);
    expect(code).toBe(0);
    expect(caOf(stdout)).toBe(proxy.ca.certificatePem);
    expect(stderr).toBe(
      `CA of the proxy at ${adminUrl}: SHA-256 ${caFingerprint(proxy.ca.certificatePem)}\n`,
    );
  });

  it("says in one line when no proxy answers at --ca-from, or both CA options are given", async () => {
    const vacant = createServer();
    await new Promise<void>((resolve) => vacant.listen(0, "127.0.0.1", resolve));
    const closed = `http://127.0.0.1:${(vacant.address() as AddressInfo).port}`;
    await new Promise((resolve) => vacant.close(resolve));
    const none = await runCli(["kubeconfig", "--from", from, "--proxy", proxy.url, "--ca-from", closed]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /^apisnoop kubeconfig: cannot read the proxy's CA from http:.*\/ca\.pem: .*ECONNREFUSED/,
    );
    expect(none.stderr).toMatch(/ \(is 'apisnoop proxy' running with that --admin-listen\?\)\n$/);
    const both = await runCli([
      ...["kubeconfig", "--from", from, "--proxy", proxy.url],
      ...["--ca-from", closed, "--ca-dir", caDir],
    ]);
    expect([both.code, both.stderr]).toEqual([
      2,
      "apisnoop kubeconfig: give --ca-dir or --ca-from, not both\n",
    ]);
  });
});
