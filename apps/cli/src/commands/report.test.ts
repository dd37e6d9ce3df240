import { type Database, recordBatch } from "@apisnoop/db";
import { openTestDatabase } from "@apisnoop/db/testing";
import { SHARED_K8S } from "@apisnoop/openapi/testing";
import { RollupBuilder, type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runCli } from "../run-cli.test-support";

/** A chart's operator on 1.28 that lists FlowSchemas with flowcontrol v1beta2 (gone in 1.29) and watches pods the old way. */
const chart: Source = {
  ...sourceFromUserAgent("my-operator/1.0"),
  chart: "my-chart-1.2.3",
  namespace: "ops",
  pod: "my-operator-0",
};
const kubectl = sourceFromUserAgent("kubectl/v1.32.4 (linux/amd64)");
/** Two CI runs of e2e tests: the main branch's and a pull request's, which lost two endpoints. */
const e2e = (test: string, run: string): Source => ({
  ...sourceFromUserAgent(`e2e.test/v1.28.0 -- ${test} [Conformance]`),
  cluster: "ci",
  run,
});
const mainRun = e2e("[sig-api-machinery] Namespaces | should list", "main-1");
const prRun = e2e("[sig-api-machinery] Namespaces | should list", "pr-2");

describe("apisnoop report", () => {
  let db: Database;
  let base: string[];
  beforeAll(async () => {
    vi.stubEnv("APISNOOP_REFERENCE_DIR", SHARED_K8S);
    db = await openTestDatabase();
    base = ["--database-url", db.url];
    expect((await runCli(["spec", "add", "--release", "1.28", ...base])).code).toBe(0);
    const builder = new RollupBuilder("test", "1.28");
    const at = Date.UTC(2026, 10, 28, 12);
    const hit = (source: Source, operationId: string, method = "GET") =>
      builder.add({ at, method, operationId, path: "/x", status: 200, source });
    for (let i = 0; i < 3; i++) hit(chart, "listFlowcontrolApiserverV1beta2FlowSchema");
    hit(chart, "watchCoreV1NamespacedPodList");
    hit(chart, "readCoreV1Namespace");
    for (const operationId of [
      "readCoreV1Namespace",
      "listCoreV1NamespacedPod",
      "createCoreV1NamespacedConfigMap",
    ])
      hit(kubectl, operationId);
    for (const operationId of [
      "readCoreV1Namespace",
      "listCoreV1NamespacedPod",
      "createCoreV1NamespacedConfigMap",
    ])
      hit(mainRun, operationId);
    hit(prRun, "readCoreV1Namespace");
    await recordBatch(db.prisma, builder.drain() as NonNullable<ReturnType<RollupBuilder["drain"]>>);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await db?.stop();
  });

  it("exits 3 when a source uses an endpoint the target release removed, naming the replacement", async () => {
    const { code, stdout } = await runCli([
      "report",
      "--source",
      "chart=my-chart",
      "--release",
      "1.28",
      "--target-release",
      "1.29",
      "--format",
      "json",
      ...base,
    ]);
    expect(code).toBe(3);
    const report = JSON.parse(stdout);
    expect(report.removed).toEqual([
      expect.objectContaining({
        operationId: "listFlowcontrolApiserverV1beta2FlowSchema",
        hits: 3,
        replacement: "listFlowcontrolApiserverV1FlowSchema",
        callers: [expect.objectContaining({ chart: "my-chart-1.2.3", pod: "my-operator-0", hits: 3 })],
      }),
    ]);
    expect(report.deprecated.map((f: { operationId: string }) => f.operationId)).toEqual([
      "watchCoreV1NamespacedPodList",
    ]);
    expect(report.used).toBe(3);
  });

  it("exits 2 for deprecated endpoints without a target, and says so in every format", async () => {
    const text = await runCli(["report", "--source", "chart=my-chart", "--release", "1.28", ...base]);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain(
      "watchCoreV1NamespacedPodList (GET /api/v1/watch/namespaces/{namespace}/pods), 1 hits: deprecated",
    );
    expect(text.stdout).toContain("called by my-chart-1.2.3 (1)");
    const junit = await runCli([
      "report",
      "--source",
      "chart=my-chart",
      "--release",
      "1.28",
      "--format",
      "junit",
      ...base,
    ]);
    expect(junit.stdout).toMatch(/<testsuite name="apisnoop 1\.28" tests="2" failures="1">/);
    const markdown = await runCli([
      "report",
      "--source",
      "chart=my-chart",
      "--release",
      "1.28",
      "--format",
      "markdown",
      ...base,
    ]);
    expect(markdown.stdout).toContain("| deprecated | `watchCoreV1NamespacedPodList` | 1 |");
  });

  it("exits 4 below --min-coverage and 0 when clean", async () => {
    const low = await runCli([
      "report",
      "--source",
      "userAgent=kubectl",
      "--release",
      "1.28",
      "--min-coverage",
      "50",
      ...base,
    ]);
    expect(low.code).toBe(4);
    expect(low.stdout).toMatch(/conformance-eligible coverage: 3\/457 \(0\.7%\), minimum 50%/);
    expect(
      (await runCli(["report", "--source", "userAgent=kubectl", "--release", "1.28", ...base])).code,
    ).toBe(0);
  });

  it("exits 1 on bad arguments, never with a finding's code", async () => {
    expect(await runCli(["report", "--source", "color=blue", ...base])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("--source takes FIELD=VALUE"),
    });
    expect((await runCli(["report", "--min-coverage", "150", ...base])).code).toBe(1);
    expect((await runCli(["report", "--format", "yaml", ...base])).code).toBe(1);
  });

  it("exits 5 when a run covers fewer conformance-eligible endpoints than its --baseline run", async () => {
    const args = ["report", "--release", "1.28", ...base];
    const pr = await runCli([...args, "--source", "run=pr-2", "--baseline", "run=main-1"]);
    expect(pr.stderr).toBe("");
    expect(pr.code).toBe(5);
    expect(pr.stdout).toContain("conformance-eligible coverage: 1/457");
    expect(pr.stdout).toContain("baseline run=main-1: 3/457 (0.7%); -2, 0 gained, 2 lost: FEWER");
    expect(pr.stdout).toContain(
      "  listCoreV1NamespacedPod (GET /api/v1/namespaces/{namespace}/pods)\n    called there by [sig-api-machinery] Namespaces | should list [Conformance] (1)",
    );
    const json = JSON.parse(
      (await runCli([...args, "--source", "run=pr-2", "--baseline", "run=main-1", "--format", "json"]))
        .stdout,
    );
    expect(json.baseline).toMatchObject({ label: "run=main-1", tested: 3, gained: [] });
    expect(json.baseline.lost.map((lost: { operationId: string }) => lost.operationId).sort()).toEqual([
      "createCoreV1NamespacedConfigMap",
      "listCoreV1NamespacedPod",
    ]);
    const markdown = await runCli([
      ...args,
      ...["--source", "run=pr-2", "--baseline", "run=main-1", "--format", "markdown"],
    ]);
    expect(markdown.code).toBe(5);
    expect(markdown.stdout).toContain("fewer conformance-eligible endpoints than the baseline");
    // Client-sent names cannot break the table: the pipe in the test name is escaped.
    expect(markdown.stdout).toContain(
      "| `listCoreV1NamespacedPod` | stable | \\[sig-api-machinery\\] Namespaces \\| should list \\[Conformance\\] (1) |",
    );
    const junit = await runCli([
      ...args,
      ...["--source", "run=pr-2", "--baseline", "run=main-1", "--format", "junit"],
    ]);
    expect(junit.stdout).toContain('<failure message="fewer than the baseline">');
    // The other way round the run covers more than its baseline: clean.
    const main = await runCli([...args, "--source", "run=main-1", "--baseline", "run=pr-2"]);
    expect(main.code).toBe(0);
    expect(main.stdout).toContain("baseline run=pr-2: 1/457 (0.2%); +2, 2 gained, 0 lost\n");
    // The same run as its own baseline: equal is not fewer.
    expect((await runCli([...args, "--source", "run=pr-2", "--baseline", "run=pr-2"])).code).toBe(0);
  });

  it("refuses a --baseline the selection does not name, or that is no source filter", async () => {
    expect(await runCli(["report", "--baseline", "run=main-1", ...base])).toMatchObject({
      code: 1,
      stderr:
        "apisnoop report: --baseline run=main-1 replaces the selection's own run: name it with --source run=…\n",
    });
    expect(
      await runCli(["report", "--source", "run=pr-2", "--baseline", "color=blue", ...base]),
    ).toMatchObject({ code: 1, stderr: expect.stringContaining("--baseline takes FIELD=VALUE") });
  });
});
