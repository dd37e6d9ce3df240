import { copyFile, mkdtemp, writeFile } from "node:fs/promises";
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

  it("counts an audit log imported twice, or again rotated beside a newer one, once", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "apisnoop-rotated-"));
    const event = (n: number, agent: string) =>
      JSON.stringify({
        kind: "Event",
        apiVersion: "audit.k8s.io/v1",
        level: "Metadata",
        stage: "ResponseComplete",
        auditID: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
        verb: "list",
        requestURI: "/api/v1/namespaces/default/configmaps",
        userAgent: agent,
        responseStatus: { code: 200 },
        stageTimestamp: new Date(Date.UTC(2026, 10, 1, 12, 0, n)).toISOString(),
      });
    const log = (from: number, to: number, agent: string) =>
      Array.from({ length: to - from }, (_, i) => event(from + i, agent)).join("\n");
    const current = path.join(dir, "audit.log");
    await writeFile(current, log(0, 300, "rotation-test/1"));
    const stored = async () =>
      Object.fromEntries(
        (
          await db.prisma.$queryRawUnsafe<{ agent: string; n: number }[]>(
            `SELECT s."userAgent" AS agent, SUM(h.count)::int AS n FROM "HitRollup" h
             JOIN "Source" s ON s.id = h."sourceId" WHERE s."userAgent" LIKE 'rotation-test/%' GROUP BY 1`,
          )
        ).map((row) => [row.agent, row.n]),
      );
    const run = (...files: string[]) =>
      runCli(["import", "audit", ...files, "--release", "1.34", "--database-url", db.url]);
    expect((await run(current)).code).toBe(0);
    expect(await stored()).toEqual({ "rotation-test/1": 300 });
    const again = await run(current);
    expect(again.stdout).toContain("1 of 1 batches were imported before (the same records): counted once");
    expect(await stored()).toEqual({ "rotation-test/1": 300 });
    // The log rotates: audit.log becomes audit.log.1 and a new audit.log starts; audit.log* is imported.
    await copyFile(current, `${current}.1`);
    await writeFile(current, log(300, 350, "rotation-test/2"));
    const rotated = await run(current, `${current}.1`);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain("1 of 2 batches were imported before");
    expect(await stored()).toEqual({ "rotation-test/1": 300, "rotation-test/2": 50 });
  });

  it("reports a record the ingest schema refuses by its line and stores every other one", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "apisnoop-hits-"));
    const file = path.join(dir, "hits.jsonl");
    const line = (agent: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        ts: "2026-11-28T17:53:55.713Z",
        method: "GET",
        path: "/api/v1/namespaces/a/configmaps",
        query: "",
        status: 200,
        durationMs: 2,
        operationId: null,
        userAgent: agent,
        ...extra,
      });
    await writeFile(
      file,
      [
        line("schema-test/ok"),
        line("schema-test/nul\u0000agent"),
        line("schema-test/ok", { details: ["a\u0000b"] }),
        line("schema-test/ok", { method: "PROPPATCHXXXXXXXXXXXXX" }),
        "{not json",
        line("schema-test/ok", { source: { namespace: "n".repeat(300) } }),
        line("schema-test/ok"),
      ].join("\n"),
    );
    const { code, stdout, stderr } = await runCli([
      "import",
      "hits",
      file,
      "--release",
      "1.34",
      "--database-url",
      db.url,
    ]);
    expect(code).toBe(0);
    const reported = stderr.trim().split("\n");
    expect(reported).toHaveLength(5);
    expect(reported.map((text) => text.split(": ")[0])).toEqual([2, 3, 4, 5, 6].map((n) => `${file}:${n}`));
    expect(reported[0]).toContain("NUL");
    expect(reported[1]).toContain("details");
    expect(reported[2]).toContain("method");
    expect(stdout).toMatch(/imported 7 events .*: 2 hits, 0 unknown calls, .* 5 malformed/);
    const [row] = await db.prisma.$queryRawUnsafe<{ n: number }[]>(
      `SELECT SUM(h.count)::int AS n FROM "HitRollup" h JOIN "Source" s ON s.id = h."sourceId"
       WHERE s."userAgent" = 'schema-test/ok'`,
    );
    expect(row?.n).toBe(2);
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
