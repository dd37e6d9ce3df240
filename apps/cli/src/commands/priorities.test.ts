import { type Database, loadRelease, recordBatch } from "@apisnoop/db";
import { epochMinute, openTestDatabase, prioritiesBatch } from "@apisnoop/db/testing";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../run-cli.test-support";

describe("apisnoop priorities", () => {
  let db: Database;
  let base: string[];
  beforeAll(async () => {
    db = await openTestDatabase();
    base = ["--database-url", db.url, "--release", "1.34"];
    await loadRelease(db.prisma, sharedCatalog("1.34"), { origin: "shared/k8s", isDefault: true });
    await recordBatch(db.prisma, prioritiesBatch(epochMinute("2026-11-28T12:00:00Z")));
  });
  afterAll(async () => {
    await db?.stop();
  });

  it("prints the ranked lists for a terminal", async () => {
    const { code, stdout } = await runCli(["priorities", ...base, "--limit", "5"]);
    expect(code).toBe(0);
    const lines = stdout.split("\n");
    expect(lines[0]).toBe("What workloads use that conformance tests do not: release 1.34");
    expect(lines[1]).toBe(
      "6 workloads. Conformance coverage from 1 conformance test run through the proxy (endpoints and fields) and 1 conformance test of apisnoop's published data (endpoints only: it has no fields).",
    );
    expect(stdout).toContain(
      "Endpoints no conformance test hits: 7 (5 conformance-eligible) (showing 5 of 7)",
    );
    expect(lines.find((line) => line.includes("readCoreV1NamespacedConfigMap"))).toMatch(
      /^ {2}1 {2}4 +17 +readCoreV1NamespacedConfigMap +stable +yes +chart ingress-nginx, chart cert-manager, chart prometheus, kubectl$/,
    );
    expect(stdout).toContain("yes, no bodies recorded");
  });

  it("narrows with the dashboard's filters and writes Markdown for an issue", async () => {
    const { code, stdout } = await runCli([
      "priorities",
      ...base,
      "--source",
      "chart=cert-manager",
      "--level",
      "stable",
      "--format",
      "markdown",
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain(
      "| 1 | `readCoreV1NamespacedConfigMap` | stable | yes | 1 | 3 |  | chart cert-manager |",
    );
    expect(stdout).not.toContain("listResourceV1beta1DeviceClass");
  });

  it("refuses bad options with one line and exit 2", async () => {
    for (const [args, message] of [
      [["--format", "xml"], "--format must be one of text, markdown, csv, json, not 'xml'"],
      [["--limit", "0"], "--limit must be a whole number from 1 to 100000, not '0'"],
      [["--level", "gamma"], "invalid filter level"],
      [["--source", "team=a"], "--source takes FIELD=VALUE"],
    ] as const) {
      const { code, stderr } = await runCli(["priorities", ...base, ...args]);
      expect(code).toBe(2);
      expect(stderr.split("\n")).toHaveLength(2);
      expect(stderr).toContain(message);
    }
  });
});
