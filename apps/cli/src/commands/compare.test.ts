import path from "node:path";
import { type Database, recordBatch } from "@apisnoop/db";
import { openTestDatabase } from "@apisnoop/db/testing";
import { SHARED_K8S, sharedSpecPath } from "@apisnoop/openapi/testing";
import { RollupBuilder, type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { runCli } from "../run-cli.test-support";

describe("apisnoop compare", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("diffs two releases from the reference folder as JSON", async () => {
    vi.stubEnv("APISNOOP_REFERENCE_DIR", SHARED_K8S);
    const { code, stdout, stderr } = await runCli([
      "compare",
      "--from",
      "1.33",
      "--to",
      "1.34",
      "--format",
      "json",
    ]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const diff = JSON.parse(stdout);
    expect(diff.from).toBe("1.33");
    expect(diff.added).toHaveLength(66);
    expect(diff.promoted).toContainEqual({
      from: "createAdmissionregistrationV1alpha1MutatingAdmissionPolicy",
      to: "createAdmissionregistrationV1beta1MutatingAdmissionPolicy",
      fromLevel: "alpha",
      toLevel: "beta",
    });
  });

  it("accepts spec files and prints text", async () => {
    const { code, stdout } = await runCli([
      "compare",
      "--from",
      // A relative path with "..": a spec file, not a time window.
      path.relative(process.cwd(), sharedSpecPath("1.35")),
      "--to",
      sharedSpecPath("1.36"),
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^1\.35 → 1\.36: 54 added, \d+ removed, \d+ promoted, 0 newly deprecated\n/);
    expect(stdout).toContain("createAdmissionregistrationV1MutatingAdmissionPolicy");
  });

  it("says what is missing", async () => {
    expect(await runCli(["compare", "--from", "1.33"])).toMatchObject({
      code: 2,
      stderr: "apisnoop compare: --from and --to are required (see 'apisnoop compare --help')\n",
    });
    expect(await runCli(["compare", "--from", "1.33", "--to", "1.34", "--format", "xml"])).toMatchObject({
      code: 2,
    });
  });
});

describe("apisnoop compare: coverage of a selection", () => {
  const chart: Source = { ...sourceFromUserAgent("my-operator/1.0"), chart: "my-chart-1.2.3", pod: "op-0" };
  const kubectl = sourceFromUserAgent("kubectl/v1.34.0 (linux/amd64)");
  const e2e = (test: string, run: string): Source => ({
    ...sourceFromUserAgent(`e2e.test/v1.34.0 -- ${test}`),
    cluster: "ci",
    run,
  });
  const day = 86_400_000;
  const now = Date.now();
  let db: Database;
  let base: string[];

  beforeAll(async () => {
    vi.stubEnv("APISNOOP_REFERENCE_DIR", SHARED_K8S);
    db = await openTestDatabase();
    base = ["--database-url", db.url];
    for (const release of ["1.33", "1.34"])
      expect((await runCli(["spec", "add", "--release", release, ...base])).code).toBe(0);
    const record = async (release: string, hits: Array<[Source, string, number]>) => {
      const builder = new RollupBuilder("test", release);
      for (const [source, operationId, at] of hits)
        builder.add({ at, method: "GET", operationId, path: "/x", status: 200, source });
      await recordBatch(db.prisma, builder.drain() as NonNullable<ReturnType<RollupBuilder["drain"]>>);
    };
    // On 1.33 the chart listed v1alpha3 DeviceClasses (gone in 1.34); on 1.34 it lists v1 ones, and pods.
    await record("1.33", [
      [chart, "readCoreV1Namespace", now - 3 * day],
      [chart, "listResourceV1alpha3DeviceClass", now - 3 * day],
      [kubectl, "listCoreV1Node", now - 3 * day],
    ]);
    await record("1.34", [
      [chart, "readCoreV1Namespace", now - 3 * day],
      [chart, "listCoreV1NamespacedPod", now - day / 2],
      [chart, "listResourceV1DeviceClass", now - day / 2],
      // The main branch's run and a pull request's: the PR's tests stop listing pods and list nodes.
      [e2e("[sig-node] Pods should list [Conformance]", "main-1"), "listCoreV1NamespacedPod", now - day],
      [e2e("[sig-node] Pods should list [Conformance]", "main-1"), "readCoreV1Namespace", now - day],
      [e2e("[sig-node] Nodes should list", "pr-2"), "listCoreV1Node", now - day / 4],
      [e2e("[sig-node] Pods should list [Conformance]", "pr-2"), "readCoreV1Namespace", now - day / 4],
    ]);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await db?.stop();
  });

  it("compares a chart's coverage between two releases, with the spec diff (JSON)", async () => {
    const { code, stdout, stderr } = await runCli([
      ...["compare", "--from", "1.33", "--to", "1.34", "--source", "chart=my-chart", "--format", "json"],
      ...base,
    ]);
    expect(stderr).not.toMatch(/error/i);
    expect(code).toBe(0);
    const json = JSON.parse(stdout);
    expect(json.added).toHaveLength(66);
    expect(json.coverage).toMatchObject({
      selection: { source: ["chart=my-chart"], outcome: "any" },
      from: "1.33",
      to: "1.34",
      newlyTested: ["listCoreV1NamespacedPod"],
      noLongerTested: [],
      testedAdded: ["listResourceV1DeviceClass"],
      testedRemoved: ["listResourceV1alpha3DeviceClass"],
    });
    expect(json.coverage.counts.from.all).toEqual({ endpoints: 843, tested: 2, hits: 2 });
    expect(json.coverage.counts.to.all).toEqual({ endpoints: 859, tested: 3, hits: 3 });
  });

  it("compares two time windows of one release (text)", async () => {
    const { code, stdout } = await runCli([
      ...[
        "compare",
        "--from",
        "7d..1d",
        "--to",
        "1d..now",
        "--release",
        "1.34",
        "--source",
        "chart=my-chart",
      ],
      ...base,
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^Coverage of 1\.34 by chart=my-chart \(any response\): \S+Z\.\.\S+Z → \S+Z\.\.\S+Z\n/,
    );
    expect(stdout).toMatch(/all endpoints +1\/859 \(0\.1 %\) +→ 2\/859 \(0\.2 %\) +\+1 tested/);
    expect(stdout).toContain("Newly tested (2):\n  listCoreV1NamespacedPod");
    expect(stdout).toContain("No longer tested (1):\n  readCoreV1Namespace");
  });

  it("compares two runs: what each newly hits, by level and eligibility, with the tests responsible", async () => {
    const args = ["compare", "--from", "run=main-1", "--to", "run=pr-2", "--release", "1.34", ...base];
    const text = await runCli(args);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^Coverage of 1\.34 by all sources \(any response\): run=main-1 → run=pr-2\n/,
    );
    expect(text.stdout).toMatch(
      /conformance-eligible +2\/\d+ \(\d+\.\d %\) +→ 2\/\d+ \(\d+\.\d %\) +\+0 tested/,
    );
    expect(text.stdout).toMatch(
      /Newly tested \(1\):\n {2}listCoreV1Node +stable GET +\/api\/v1\/nodes {2}\[eligible\]\n {4}by \[sig-node\] Nodes should list \(1\)\n/,
    );
    expect(text.stdout).toMatch(
      /No longer tested \(1\):\n {2}listCoreV1NamespacedPod .*\n {4}by \[sig-node\] Pods should list \[Conformance\] \(1\)\n/,
    );
    const json = JSON.parse((await runCli([...args, "--format", "json"])).stdout);
    expect(json.coverage).toMatchObject({
      from: "run=main-1",
      to: "run=pr-2",
      newlyTested: ["listCoreV1Node"],
      noLongerTested: ["listCoreV1NamespacedPod"],
      newlyTestedDetail: [
        {
          operationId: "listCoreV1Node",
          level: "stable",
          conformanceEligible: true,
          callers: ["[sig-node] Nodes should list (1)"],
        },
      ],
    });
    // A URL's spelling (run:A) is taken too; Markdown for a PR comment, client names escaped.
    const markdown = await runCli([...args.map((a) => a.replace("run=", "run:")), "--format", "markdown"]);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toContain("### apisnoop: coverage of 1.34, run=main-1 → run=pr-2\n");
    expect(markdown.stdout).toContain(
      "| `listCoreV1Node` | stable | yes | \\[sig-node\\] Nodes should list (1) |",
    );
    expect(markdown.stdout).toContain("<summary>No longer hit (1)</summary>");
    // Bad mixes are refused with one line.
    expect(await runCli(["compare", "--from", "run=a", "--to", "1.34", ...base])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^apisnoop compare: --from and --to must both be selections/),
    });
    expect(await runCli([...args, "--source", "run=x"])).toMatchObject({
      code: 2,
      stderr: "apisnoop compare: --source run=… and --from/--to run=… name the same filter\n",
    });
    expect((await runCli(["compare", "--from", "1.33", "--to", "1.34", "--format", "markdown"])).code).toBe(
      2,
    );
  });

  it("refuses a release and a window together, and releases that are not stored", async () => {
    expect(await runCli(["compare", "--from", "1.33", "--to", "1d..now", ...base])).toMatchObject({
      code: 2,
      stderr:
        "apisnoop compare: --from and --to must both be releases or both be time windows (START..END)\n",
    });
    const missing = await runCli(["compare", "--from", "1.32", "--to", "1.34", "--coverage", ...base]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("release 1.32 is not loaded");
  });
});
