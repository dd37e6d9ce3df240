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
});
