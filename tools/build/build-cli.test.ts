/**
 * The compiled CLI (what the proxy image runs): built into a scratch folder, it serves as the sources do —
 * a request through `apisnoop proxy` reaches the upstream, and its hit is recorded with its endpoint.
 * And `npm run proxy`'s entry (compiled-cli.mjs) builds apps/cli/dist when it is missing or older than
 * its sources, else runs it as it is.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { sharedSpecPath } from "@apisnoop/openapi/testing";
import { CertificateAuthority } from "@apisnoop/proxy";
import { afterAll, describe, expect, it } from "vitest";
import { buildCli, ENTRY_FILE, INPUTS_FILE } from "./build-cli";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-build-test-"));
let upstream: https.Server | null = null;
let proxy: ChildProcess | null = null;

afterAll(() => {
  proxy?.kill("SIGKILL");
  upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the compiled CLI", () => {
  it("runs `apisnoop proxy` from its build: forwards, matches and records", async () => {
    const outdir = path.join(dir, "dist");
    await buildCli(outdir);

    const ca = await CertificateAuthority.open(path.join(dir, "upstream-ca"));
    const leaf = await ca.leafFor(["127.0.0.1"]);
    upstream = https.createServer({ key: leaf.key, cert: leaf.cert }, (req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "NamespaceList", apiVersion: "v1", items: [], seen: req.url }));
    });
    await new Promise<void>((resolve) => upstream?.listen(0, "127.0.0.1", resolve));
    const kubeconfig = path.join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:${(upstream.address() as AddressInfo).port}", certificate-authority-data: ${Buffer.from(ca.certificatePem).toString("base64")}}}]
users: [{name: u, user: {token: build-test-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`,
    );
    const hits = path.join(dir, "hits.jsonl");
    proxy = spawn(
      process.execPath,
      [
        path.join(outdir, ENTRY_FILE),
        "proxy",
        `--kubeconfig=${kubeconfig}`,
        "--listen=127.0.0.1:0",
        "--admin-listen=none",
        `--spec=${sharedSpecPath("1.34")}`,
        `--ca-dir=${path.join(dir, "proxy-ca")}`,
        `--out=${hits}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const read = (text: Buffer) => {
        out += text.toString();
        const found = /listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (found) resolve(Number(found[1]));
      };
      proxy?.stdout?.on("data", read);
      proxy?.stderr?.on("data", read);
      proxy?.on("exit", (code) => reject(new Error(`the compiled proxy exited (${code}):\n${out}`)));
    });

    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get(
          {
            host: "127.0.0.1",
            port,
            path: "/api/v1/namespaces",
            rejectUnauthorized: false,
            headers: { authorization: "Bearer build-test-token", "user-agent": "build-test" },
          },
          (res) => {
            let body = "";
            res.on("data", (chunk) => {
              body += chunk;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        )
        .on("error", reject);
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ kind: "NamespaceList", seen: "/api/v1/namespaces" });
    await expect
      .poll(() => {
        try {
          return readFileSync(hits, "utf8");
        } catch {
          return "";
        }
      })
      .toContain('"operationId":"listCoreV1Namespace"');
  }, 120_000);

  it("is what `npm run proxy` runs: built when missing or older than its sources, else as it is", () => {
    const dist = path.resolve(import.meta.dirname, "../../apps/cli/dist");
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(import.meta.dirname, "compiled-cli.mjs"), ...args], {
        encoding: "utf8",
        timeout: 120_000,
      });
    rmSync(dist, { recursive: true, force: true });

    const first = run("--help");
    expect(first.status).toBe(0);
    expect(first.stderr).toContain("building the CLI");
    expect(first.stderr).toContain("(no build yet)");
    expect(first.stdout).toContain("Usage: apisnoop <command>");
    const inputs = JSON.parse(readFileSync(path.join(dist, INPUTS_FILE), "utf8")) as string[];
    expect(inputs).toContain(path.resolve(import.meta.dirname, "../../apps/cli/src/main.ts"));

    const again = run("--help");
    expect(again.status).toBe(0);
    expect(again.stderr).toBe("");
    expect(again.stdout).toBe(first.stdout);

    // A build older than its sources, as after an edit or a checkout: built again before it runs.
    const longAgo = new Date(Date.now() - 86_400_000);
    utimesSync(path.join(dist, ENTRY_FILE), longAgo, longAgo);
    const stale = run("spec", "--help");
    expect(stale.status).toBe(0);
    expect(stale.stderr).toMatch(/building the CLI .* changed\)/);
    expect(stale.stdout).toContain("--spec");
  }, 300_000);
});
