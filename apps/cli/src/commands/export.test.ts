import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { coverageBadge, parseApisnoopCoverage } from "@apisnoop/coverage";
import type { Database } from "@apisnoop/db";
import { openTestDatabase } from "@apisnoop/db/testing";
import { SHARED_K8S, sharedApisnoopCoverage } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runCli } from "../run-cli.test-support";

type Exported = { endpoint: string; tested: boolean; conf_tested: boolean; tests: string[] };

describe("apisnoop export", () => {
  let first: Database;
  let second: Database;
  beforeAll(async () => {
    vi.stubEnv("APISNOOP_REFERENCE_DIR", SHARED_K8S);
    [first, second] = await Promise.all([openTestDatabase(), openTestDatabase()]);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await Promise.all([first?.stop(), second?.stop()]);
  });

  it("round-trips apisnoop's format: published -> import -> export -> import -> export, same coverage", async () => {
    expect(
      (await runCli(["import", "apisnoop", "--release", "1.35", "--database-url", first.url])).code,
    ).toBe(0);
    const dir = await mkdtemp(path.join(tmpdir(), "apisnoop-export-"));
    const once = path.join(dir, "once.json");
    const exported = await runCli([
      "export",
      "--format",
      "apisnoop",
      "--source",
      "name=upstream-e2e",
      "--release",
      "1.35",
      "--output",
      once,
      "--database-url",
      first.url,
    ]);
    expect(exported).toMatchObject({ code: 0, stdout: "" });
    const ours = JSON.parse(await readFile(once, "utf8"));
    const published = sharedApisnoopCoverage("1.35");
    expect(ours["total endpoints"]).toBe(published["total endpoints"]);
    expect(ours["tested endpoints"]).toBe(published["tested endpoints"]);
    expect(ours["total conformance eligible endpoints"]).toBe(549);
    expect(ours["tested conformance eligible endpoints"]).toBe(549);
    // apisnoop's lists hold a null or "" where a hit had no test name; ours list names only.
    const shape = (endpoints: Exported[]) =>
      Object.fromEntries(
        endpoints.map((e) => [
          e.endpoint,
          [e.tested, e.conf_tested, [...new Set(e.tests.filter((t) => t))].sort()],
        ]),
      );
    expect(shape(ours.endpoints)).toEqual(shape(published.endpoints as unknown as Exported[]));

    expect(
      (
        await runCli([
          "import",
          "apisnoop",
          "--release",
          "1.35",
          "--file",
          once,
          "--database-url",
          second.url,
        ])
      ).code,
    ).toBe(0);
    const twice = await runCli([
      "export",
      "--format",
      "apisnoop",
      "--release",
      "1.35",
      "--database-url",
      second.url,
    ]);
    expect(shape(JSON.parse(twice.stdout).endpoints)).toEqual(shape(ours.endpoints));
  });

  it("writes JUnit with untested endpoints skipped", async () => {
    const { code, stdout } = await runCli([
      "export",
      "--format",
      "junit",
      "--release",
      "1.35",
      "--database-url",
      first.url,
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /<testsuite name="apisnoop coverage 1\.35" tests="863" skipped="288" failures="0">/,
    );
  });

  it("writes the dashboard's CSV: one row per endpoint, upstreamTested from apisnoop's published coverage", async () => {
    const { code, stdout, stderr } = await runCli([
      "export",
      "--format",
      "csv",
      "--source",
      "name=upstream-e2e",
      "--release",
      "1.35",
      "--database-url",
      first.url,
    ]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout.endsWith("\r\n")).toBe(true);
    const [header, ...rows] = stdout.slice(0, -2).split("\r\n");
    expect(header).toBe(
      "operationId,method,path,level,category,group,version,kind,deprecated,conformanceEligible,hits,upstreamTested",
    );
    expect(rows).toHaveLength(863);
    expect(rows.find((row) => row.startsWith("listCoreV1Node,"))).toBe(
      "listCoreV1Node,GET,/api/v1/nodes,stable,core,,v1,Node,false,true,1319,true",
    );
    // The selection is upstream e2e itself, imported as one hit per (endpoint, test): every row's hits are
    // its distinct tests as the importer reads apisnoop's file (unnamed ones count as one), and upstreamTested its mark.
    const published = parseApisnoopCoverage(sharedApisnoopCoverage("1.35")).endpoints;
    const expected = (id: string) => {
      const e = published.get(id);
      const hits = e?.tested ? Math.max(1, new Set(e.tests.map((t) => t || null)).size) : 0;
      return `${hits},${e?.tested ?? false}`;
    };
    const cells = rows.map((row) => row.split(","));
    expect(
      cells.flatMap((c) =>
        `${c[10]},${c[11]}` === expected(c[0] as string)
          ? []
          : [`${c[0]} ${c[10]},${c[11]} ${expected(c[0] as string)}`],
      ),
    ).toEqual([]);
    expect(cells.filter((c) => c[9] === "true")).toHaveLength(549);
    expect(cells.filter((c) => c[11] === "true")).toHaveLength(
      sharedApisnoopCoverage("1.35")["tested endpoints"] as number,
    );
  });

  it("draws the dashboard's badge for a selection and metric", async () => {
    const badge = (...args: string[]) =>
      runCli(["export", "--format", "badge", "--release", "1.35", ...args, "--database-url", first.url]);
    const all = await badge();
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(all.stdout).toContain("<title>k8s API coverage: 66.6% (575/863)</title>");
    expect(all.stdout).toBe(coverageBadge("k8s API coverage", 575, 863));
    expect((await badge("--metric", "eligible", "--label", "e2e")).stdout).toContain(
      "<title>e2e: 100.0% (549/549)</title>",
    );
    expect((await badge("--metric", "stable")).stdout).toContain("k8s API coverage: 88.5% (575/650)");
    expect((await badge("--source", "name=nobody")).stdout).toContain("k8s API coverage: 0.0% (0/863)");
    expect(await badge("--metric", "most")).toMatchObject({
      code: 2,
      stderr: "apisnoop export: --metric must be one of all, stable, eligible, not 'most'\n",
    });
  });

  it("requires a known format, and --metric only with badge", async () => {
    expect(await runCli(["export", "--database-url", first.url])).toMatchObject({
      code: 2,
      stderr: "apisnoop export: --format must be one of apisnoop, junit, csv, badge\n",
    });
    expect(
      await runCli(["export", "--format", "csv", "--metric", "stable", "--database-url", first.url]),
    ).toMatchObject({ code: 2, stderr: "apisnoop export: --metric and --label go with --format badge\n" });
  });
});
