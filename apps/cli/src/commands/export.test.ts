import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
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

  it("requires a known format", async () => {
    expect(await runCli(["export", "--database-url", first.url])).toMatchObject({
      code: 2,
      stderr: "apisnoop export: --format must be apisnoop or junit\n",
    });
  });
});
