import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Database } from "@apisnoop/db";
import { openTestDatabase } from "@apisnoop/db/testing";
import { SHARED_K8S } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runCli } from "../run-cli.test-support";

const samples = [
  "audit_event.json",
  "audit_event_bad_verb.json",
  "audit_event_dummy_request.json",
  "audit_event_part_count_too_high.json",
  "bad_audit_event.json",
].map((name) => path.join(SHARED_K8S, "audit-samples", name));

describe("apisnoop import", () => {
  let db: Database;
  beforeAll(async () => {
    vi.stubEnv("APISNOOP_REFERENCE_DIR", SHARED_K8S);
    db = await openTestDatabase();
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await db?.stop();
  });

  it("imports the shared audit samples: valid events stored, malformed ones reported by line", async () => {
    const { code, stdout, stderr } = await runCli([
      "import",
      "audit",
      ...samples,
      "--release",
      "1.34",
      "--database-url",
      db.url,
    ]);
    expect(code).toBe(0);
    expect(stderr).toContain(`${samples[1]}:1: unknown verb 'calebiscool'`);
    expect(stderr).toContain(`${samples[4]}:1: unknown verb 'calebiscool'`);
    expect(stdout).toMatch(
      /imported 5 events from 5 file\(s\) .* against 1\.34: 1 hits, 2 unknown calls, 0 calls to apiserver paths outside the spec, 0 other-stage events skipped, 2 malformed/,
    );
    const hits = await db.prisma.hitRollup.findMany();
    expect(hits.map((h) => [h.operationId, h.statusClass, Number(h.count)])).toEqual([
      ["readCoreV1Node", "4xx", 1],
    ]);
    expect(await db.prisma.unknownCall.count()).toBe(2);
    expect(await db.prisma.endpoint.count({ where: { release: "1.34", watchOperation: false } })).toBe(859);
  });

  it("imports apisnoop's published coverage once, as the source upstream-e2e", async () => {
    const first = await runCli(["import", "apisnoop", "--release", "1.36", "--database-url", db.url]);
    expect(first.stderr).toBe("");
    expect(first.stdout).toMatch(
      /^imported apisnoop coverage of 1\.36 as source upstream-e2e: 591 of 908 endpoints tested by \d+ e2e tests\n$/,
    );
    const second = await runCli(["import", "apisnoop", "--release", "1.36", "--database-url", db.url]);
    expect(second.stdout).toMatch(/^already imported/);
    const tested = await db.prisma.hitRollup.groupBy({ by: ["operationId"], where: { release: "1.36" } });
    expect(tested).toHaveLength(591);
    expect(await db.prisma.endpoint.count({ where: { release: "1.36", conformanceEligible: true } })).toBe(
      563,
    );
  });

  it("imports a proxy hits file, re-matched against the release", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "apisnoop-hits-"));
    const file = path.join(dir, "hits.jsonl");
    const line = (test: string) =>
      JSON.stringify({
        ts: "2026-11-28T17:53:55.713Z",
        method: "GET",
        path: "/api/v1/namespaces/a/configmaps",
        query: "",
        status: 200,
        durationMs: 2,
        operationId: "listCoreV1NamespacedConfigMap",
        userAgent: `e2e.test/v1.34.4 -- ${test}`,
      });
    await writeFile(
      file,
      `${line("[sig-node] ConfigMap should list [Conformance]")}\n${line("[sig-node] ConfigMap should list [Conformance]")}\n`,
    );
    const { code, stdout } = await runCli([
      "import",
      "hits",
      file,
      "--release",
      "1.34",
      "--database-url",
      db.url,
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/imported 2 events from 1 file\(s\) .*: 2 hits, 0 unknown calls/);
    const source = await db.prisma.source.findFirst({
      where: { e2eTest: "[sig-node] ConfigMap should list [Conformance]" },
    });
    expect(source?.conformance).toBe(true);
  });

  it("refuses unclear input with one line", async () => {
    expect(await runCli(["import", "audit", samples[0] as string, "--database-url", db.url])).toMatchObject({
      code: 2,
      stderr:
        "apisnoop import: say which release the data is from: --release 1.NN, or --spec FILE|URL|live\n",
    });
    expect(
      await runCli([
        "import",
        "apisnoop",
        "--release",
        "1.36",
        "--file",
        path.join(SHARED_K8S, "apisnoop", "1.35.0.json.gz"),
        "--database-url",
        db.url,
      ]),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("is apisnoop coverage of 1.35, not 1.36"),
    });
    expect(await runCli(["import", "logs"])).toMatchObject({ code: 2 });
  });
});

describe("apisnoop spec add", () => {
  let db: Database;
  beforeAll(async () => {
    vi.stubEnv("APISNOOP_REFERENCE_DIR", SHARED_K8S);
    db = await openTestDatabase();
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await db?.stop();
  });

  it("stores a release from the reference folder, and from a file given explicitly", async () => {
    const added = await runCli(["spec", "add", "--release", "1.33", "--database-url", db.url]);
    expect(added).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^stored release 1\.33: 843 endpoints \(\+\d+ watch operations\)/),
    });
    const file = path.join(SHARED_K8S, "openapi", "v1.29.swagger.json.gz");
    expect(
      await runCli(["spec", "add", "--file", file, "--default", "--database-url", db.url]),
    ).toMatchObject({
      code: 0,
    });
    const releases = await db.prisma.release.findMany({ orderBy: { name: "asc" } });
    expect(releases.map((r) => [r.name, r.isDefault])).toEqual([
      ["1.29", true],
      ["1.33", false],
    ]);
    expect(await db.prisma.endpoint.count({ where: { release: "1.29", watchOperation: false } })).toBe(717);
  });
});
