import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { reportKeptRun } from "./run-report";

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const TEST = "[sig-node] ConfigMap should run through a ConfigMap lifecycle [Conformance]";
const UA = `e2e.test/v1.34.4 (linux/amd64) kubernetes/$Format -- ${TEST}`;

/** A kept run's files: the hits of apisnoop's published set for TEST but one, and one call it lacks. */
function keptRun(extraHit: { method: string; path: string }): string {
  const dir = mkdtempSync(join(tmpdir(), "apisnoop-e2e-kept-"));
  dirs.push(dir);
  const calls: [string, string, string][] = [
    ["POST", "/api/v1/namespaces", "createCoreV1Namespace"],
    ["GET", "/api/v1/namespaces/n/serviceaccounts", "listCoreV1NamespacedServiceAccount"],
    ["GET", "/api/v1/namespaces/n/configmaps", "listCoreV1NamespacedConfigMap"],
    ["POST", "/api/v1/namespaces/n/configmaps", "createCoreV1NamespacedConfigMap"],
    ["GET", "/api/v1/namespaces/n/configmaps/c", "readCoreV1NamespacedConfigMap"],
    ["PATCH", "/api/v1/namespaces/n/configmaps/c", "patchCoreV1NamespacedConfigMap"],
    ["GET", "/api/v1/configmaps", "listCoreV1ConfigMapForAllNamespaces"],
    ["DELETE", "/api/v1/namespaces/n/configmaps", "deleteCoreV1CollectionNamespacedConfigMap"],
    ["GET", "/api/v1/nodes", "listCoreV1Node"],
    ["DELETE", "/api/v1/namespaces/n", "deleteCoreV1Namespace"],
    // Recorded under the {path} operation, as the matcher did before a trailing slash took the route without it.
    [extraHit.method, extraHit.path, "connectCoreV1GetNamespacedPodProxyWithPath"],
  ];
  const hits = calls.map(([method, path, operationId]) =>
    JSON.stringify({
      ts: "2026-12-06T06:00:00.000Z",
      method,
      path,
      query: "",
      status: 200,
      durationMs: 1,
      operationId,
      userAgent: UA,
    }),
  );
  writeFileSync(join(dir, "hits.jsonl"), `${hits.join("\n")}\n`);
  writeFileSync(
    join(dir, "ginkgo-report.json"),
    JSON.stringify([
      {
        SpecReports: [
          {
            LeafNodeType: "It",
            LeafNodeText: "should run through a ConfigMap lifecycle [Conformance]",
            ContainerHierarchyTexts: ["[sig-node] ConfigMap"],
            State: "passed",
            RunTime: 2_500_000_000,
          },
        ],
      },
    ]),
  );
  writeFileSync(
    join(dir, "report.json"),
    JSON.stringify({ node: true, procs: 6, durations: { suite: 3520.7 } }),
  );
  return dir;
}

describe("reportKeptRun", () => {
  it("recomputes a kept run's report with today's matcher, keeping the run's facts", () => {
    const dir = keptRun({ method: "GET", path: "/api/v1/namespaces/n/pods/p/proxy/" });
    const { report, specs, changed } = reportKeptRun(dir, { node: false });
    expect(specs).toBe(1);
    expect(changed).toBe(1);
    expect(report.tests[0]?.test).toBe(TEST);
    // The trailing-slash hit counts for the route without {path}, as matched today.
    expect(report.tests[0]?.extras.map((d) => d.endpoint)).toEqual(["connectCoreV1GetNamespacedPodProxy"]);
    expect(report.tests[0]?.matches).toHaveLength(10);
    expect({ node: report.node, procs: report.procs, durations: report.durations }).toEqual({
      node: true,
      procs: 6,
      durations: { suite: 3520.7 },
    });
    // Written over the run's report files.
    const written = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as typeof report;
    expect(written.summary).toEqual(report.summary);
    expect(readFileSync(join(dir, "report.txt"), "utf8")).toContain("1/1 tests passed through the proxy");
  });

  it("keeps a hit the matcher still sends to {path}, and compares only the tests --only selects", () => {
    const dir = keptRun({ method: "GET", path: "/api/v1/namespaces/n/pods/p/proxy/x" });
    expect(reportKeptRun(dir, { node: true, only: /Secrets/ }).specs).toBe(0);
    const { report, changed } = reportKeptRun(dir, { node: true });
    expect(changed).toBe(0);
    expect(report.summary.unexplained).toBe(1);
  });
});

describe("npm run e2e:conformance -- --report-only", () => {
  it("says in one line that a directory holds no kept run, and exits 2", async () => {
    const empty = mkdtempSync(join(tmpdir(), "apisnoop-e2e-kept-"));
    dirs.push(empty);
    const failed = await run(process.execPath, [
      "--import",
      "tsx",
      "tools/e2e/cli.ts",
      "conformance",
      "--report-only",
      "--out",
      empty,
    ]).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed.code).toBe(2);
    expect(failed.stderr.trim().split("\n")).toEqual([
      `e2e: --report-only: no ${join(empty, "hits.jsonl")} (a run's --out DIR holds it)`,
    ]);
  }, 60_000);
});
