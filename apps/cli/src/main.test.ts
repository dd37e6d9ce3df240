import { execFile } from "node:child_process";
import { type AddressInfo, createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SHARED_RELEASES, sharedApisnoopCoverage, sharedSpecPath } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import { runCli } from "./run-cli.test-support";

const ROOT = path.resolve(fileURLToPath(import.meta.url), "../../../..");

describe("apisnoop spec", () => {
  it.each(SHARED_RELEASES)("prints apisnoop's endpoint catalog for %s", async (release) => {
    const { code, stdout, stderr } = await runCli(["spec", "--spec", sharedSpecPath(release)]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const ours = JSON.parse(stdout) as Record<string, unknown>[];
    const theirs = sharedApisnoopCoverage(release).endpoints.map(
      ({ endpoint, path, level, category, group, version, kind, action, description }) => ({
        endpoint,
        path,
        level,
        category,
        group,
        version,
        kind,
        action,
        description,
      }),
    );
    const byId = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      String(a.endpoint).localeCompare(String(b.endpoint));
    expect(ours.map(({ deprecated: _, ...rest }) => rest).sort(byId)).toEqual(theirs.sort(byId));
    expect(ours.every((e) => typeof e.deprecated === "boolean")).toBe(true);
  });

  it("fails with one line and exit 1 on a missing spec file", async () => {
    const { code, stdout, stderr } = await runCli(["spec", "--spec", "/nonexistent/spec.json"]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe("apisnoop spec: cannot read spec file /nonexistent/spec.json: no such file\n");
  });

  it("rejects a file that is not a swagger spec", async () => {
    const { code, stderr } = await runCli(["spec", "--spec", path.join(ROOT, "package.json")]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^apisnoop spec: spec .*package\.json is not a swagger 2\.0 document/);
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });

  it("names the ways to do without the network when a download fails", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const url = `http://127.0.0.1:${port}/swagger.json`;
    const { code, stderr } = await runCli(["spec", "--spec", url]);
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`^apisnoop spec: cannot download ${url}: .*ECONNREFUSED`));
    expect(stderr).toContain(": offline? set APISNOOP_REFERENCE_DIR to a folder with the published data (");
    expect(stderr).toContain("--spec FILE (a swagger.json) or --spec live");
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });

  it("rejects unknown options with exit 2", async () => {
    const { code, stderr } = await runCli(["spec", "--sepc", "x"]);
    expect(code).toBe(2);
    expect(stderr).toBe("apisnoop spec: Unknown option '--sepc' (see 'apisnoop spec --help')\n");
  });
});

describe("apisnoop match", () => {
  it("writes one line per input line, in order, with errors for malformed lines", async () => {
    const input = [
      { method: "GET", url: "/api/v1/namespaces/default/pods?watch=true" },
      "not json",
      { method: "GET" },
      { method: "DELETE", url: "/apis/stable.example.com/v1/namespaces/default/crontabs/x" },
      { method: "GET", url: "/api/v1/watch/namespaces/default/configmaps" },
      { method: "POST", url: "/version" },
    ]
      .map((line) => (typeof line === "string" ? line : JSON.stringify(line)))
      .join("\n");
    const { code, stdout, stderr } = await runCli(["match", "--spec", sharedSpecPath("1.34")], `${input}\n`);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(
      stdout
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line)),
    ).toEqual([
      {
        method: "GET",
        url: "/api/v1/namespaces/default/pods?watch=true",
        operationId: "listCoreV1NamespacedPod",
        detail: "watch",
      },
      { error: 'not a JSON object: expected {"method": "...", "url": "..."}' },
      { method: "GET", error: 'expected string fields "method" and "url"' },
      {
        method: "DELETE",
        url: "/apis/stable.example.com/v1/namespaces/default/crontabs/x",
        operationId: null,
        reason: "group not served by this spec",
      },
      {
        method: "GET",
        url: "/api/v1/watch/namespaces/default/configmaps",
        operationId: "watchCoreV1NamespacedConfigMapList",
        detail: "deprecated watch path",
      },
      { method: "POST", url: "/version", operationId: null, reason: "method not allowed" },
    ]);
  });

  it("fails with one line on a missing spec, before reading stdin", async () => {
    const { code, stderr } = await runCli(["match", "--spec", "missing.json.gz"], "{}\n");
    expect(code).toBe(1);
    expect(stderr).toBe("apisnoop match: cannot read spec file missing.json.gz: no such file\n");
  });
});

describe("apisnoop", () => {
  it("prints help for the tool and for each command", async () => {
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("spec");
    expect(top.stdout).toContain("match");
    for (const command of ["spec", "match"]) {
      const help = await runCli([command, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: apisnoop ${command}`));
    }
  });

  it("rejects an unknown command with exit 2", async () => {
    const { code, stderr } = await runCli(["frobnicate"]);
    expect(code).toBe(2);
    expect(stderr).toBe("apisnoop: unknown command 'frobnicate' (see 'apisnoop --help')\n");
  });

  it("runs as `npx apisnoop` from the repository root", async () => {
    const { stdout } = await promisify(execFile)(
      "npx",
      ["apisnoop", "spec", "--spec", sharedSpecPath("1.28")],
      {
        cwd: ROOT,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    expect(JSON.parse(stdout)).toHaveLength(706);
  });
});
