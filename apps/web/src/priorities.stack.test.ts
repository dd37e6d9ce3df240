import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { prioritiesBatch } from "@apisnoop/db/testing";
import { FieldSchema } from "@apisnoop/openapi";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { sourceFromUserAgent } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PrioritiesReport } from "./data/dashboard-data";
import { WEB_DIR } from "./server/dashboard-server";
import { launchBrowser, type TestBrowser } from "./testing/browser";
import { hitBatch, startTestStack, type TestStack } from "./testing/test-stack";

const SCREENSHOTS = path.join(WEB_DIR, "screenshots");
/** The `apisnoop` command as a user runs it: its own process, no import of the CLI's code. */
const CLI = path.resolve(fileURLToPath(import.meta.url), "../../../cli/bin/apisnoop.mjs");
const run = promisify(execFile);

/** The scenario of packages/db's priorities tests, ranked as there (same seeded hits). */
const RANKED_ENDPOINTS = [
  ["readCoreV1NamespacedConfigMap", 4],
  ["createCoreV1NamespacedSecret", 3],
  ["listCoordinationV1NamespacedLease", 2],
  ["listResourceV1beta1DeviceClass", 2],
  ["listCoreV1Namespace", 1],
  ["listStorageV1alpha1VolumeAttributesClass", 1],
  ["patchAppsV1NamespacedDeployment", 1],
];

describe("/priorities, /api/v1/priorities and `apisnoop priorities`", () => {
  let stack: TestStack;
  let browser: TestBrowser;

  beforeAll(async () => {
    // 1.33 has no workload: what a first start shows, with published data alone.
    stack = await startTestStack("1.34,1.33");
    browser = await launchBrowser();
    mkdirSync(SCREENSHOTS, { recursive: true });
    const minute = Math.floor(Date.now() / 60_000);
    const ack = await stack.ingest(prioritiesBatch(minute));
    expect(ack).toMatchObject({ ok: true });
    // A conformance run's request bodies on an endpoint no workload calls: field-level coverage only.
    const run = sourceFromUserAgent(
      "e2e.test/v1.34.4 (linux/amd64) kubernetes/abc -- [sig-node] ConfigMap should be created [Conformance]",
    );
    const configMap = (field: string) => ({
      source: 0,
      operationId: "createCoreV1NamespacedConfigMap",
      direction: "request" as const,
      field: `io.k8s.api.core.v1.ConfigMap:${field}`,
      unknown: false,
      hour: Math.floor(minute / 60),
      count: 1,
    });
    const batch = hitBatch([run], [[0, "createCoreV1NamespacedConfigMap", 1]]);
    batch.fields = ["metadata", "metadata.name", "data", "data{}"].map(configMap);
    expect(await stack.ingest(batch)).toMatchObject({ ok: true });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  const api = async (pathAndQuery: string) => {
    const response = await fetch(`${stack.url}${pathAndQuery}`);
    expect(response.status, await response.clone().text()).toBe(200);
    return response;
  };
  const cli = async (...args: string[]) => {
    const { stdout } = await run(
      process.execPath,
      [CLI, "priorities", "--database-url", stack.app.database.url, ...args],
      { env: { ...process.env, NODE_NO_WARNINGS: "1" } },
    );
    return stdout;
  };

  it("answers the ranked lists as JSON, and the CLI gives the same lists", async () => {
    const report = (await (await api("/api/v1/priorities?release=1.34")).json()) as PrioritiesReport;
    expect(report.endpoints.map((row) => [row.operationId, row.workloads])).toEqual(RANKED_ENDPOINTS);
    expect(report.endpoints[0]).toMatchObject({
      hits: 17,
      conformanceTested: false,
      e2eTested: false,
      workloadNames: ["chart ingress-nginx", "chart cert-manager", "chart prometheus", "kubectl"],
    });
    expect(report.fields.map((row) => [row.operationId, row.direction, row.field, row.workloads])).toEqual([
      ["createCoreV1NamespacedSecret", "request", "io.k8s.api.core.v1.Secret:stringData", 3],
      ["listCoreV1NamespacedPod", "response", "io.k8s.api.core.v1.Pod:status.podIP", 2],
      ["listCoreV1NamespacedPod", "response", "io.k8s.api.core.v1.Pod:metadata.ownerReferences[]", 2],
      ["createCoreV1NamespacedSecret", "request", "io.k8s.api.core.v1.Secret:stringData{}", 2],
      ["readCoreV1Node", "response", "io.k8s.api.core.v1.Node:status.nodeInfo.kubeletVersion", 1],
      ["listCoreV1NamespacedPod", "response", "io.k8s.api.core.v1.Pod:metadata.labels", 1],
    ]);
    expect(report.promotionWatch.map((row) => row.operationId)).toEqual([
      "listResourceV1beta1DeviceClass",
      "listStorageV1alpha1VolumeAttributesClass",
    ]);

    const { filters, ...lists } = report;
    expect(filters).toMatchObject({ release: "1.34" });
    expect(JSON.parse(await cli("--release", "1.34", "--format", "json"))).toEqual(lists);
    // The CSV is the same bytes on both sides, for a narrower selection too.
    for (const [query, args] of [
      ["release=1.34", ["--release", "1.34"]],
      [
        "release=1.34&chart=cert-manager&limit=2",
        ["--release", "1.34", "--source", "chart=cert-manager", "--limit", "2"],
      ],
    ] as const) {
      expect(await cli(...args, "--format", "csv")).toBe(
        await (await api(`/api/v1/priorities.csv?${query}`)).text(),
      );
    }
    expect(await cli("--release", "1.34", "--format", "markdown")).toBe(
      await (await api("/api/v1/priorities.md?release=1.34")).text(),
    );
  });

  it("shows on /conformance the share of request-schema fields conformance runs sent, with the runs", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/conformance?release=1.34`);
    const section = page.getByTestId("field-coverage");
    await section.getByText(/Per endpoint/).click();
    const row = section.locator('tr[data-operation-id="createCoreV1NamespacedConfigMap"]');
    const configMapFields = new FieldSchema(sharedCatalog("1.34").definitions).schemaFields(
      "io.k8s.api.core.v1.ConfigMap",
    ).length;
    expect(await row.locator("td").nth(2).textContent()).toBe(`4 / ${configMapFields}`);
    expect(await page.getByTestId("conformance-fields-sent").textContent()).toMatch(/^4 of [\d,]+ · 0\.\d%$/);
    // Two eligible endpoints hit by runs: the list of pods (the scenario's run) and the ConfigMap create.
    expect(await page.getByTestId("conformance-endpoints-hit").textContent()).toMatch(/^2 of \d+ · /);
    const runs = page.getByTestId("conformance-runs").locator("tbody tr");
    expect(await runs.count()).toBe(1);
    expect(await runs.first().locator("td").first().textContent()).toBe(
      "e2e.test/v1.34.4 (linux/amd64) kubernetes/abc",
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, "conformance-fields.png"), fullPage: true });
    expect(browser.errors).toEqual([]);
  });

  it("explains a selection without workloads instead of showing empty lists", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/priorities?release=1.33`);
    const empty = page.getByTestId("priorities-empty");
    expect(await empty.textContent()).toMatch(/^No workload's calls are recorded in this selection/);
    expect(await empty.textContent()).toContain("apisnoop import audit|hits FILE --release 1.33");
    expect(await empty.getByRole("link", { name: "Conformance" }).getAttribute("href")).toBe(
      "/conformance?release=1.33",
    );
    expect(await page.getByTestId("priority-endpoints").count()).toBe(0);
    // A narrowed selection points back to every workload of the release.
    await page.goto(`${stack.url}/priorities?release=1.34&chart=absent`);
    expect(await empty.textContent()).toBe("No workload in this selection. Every workload of release 1.34.");
    await empty.getByRole("link").click();
    await page.waitForURL(/\/priorities\?release=1\.34$/);
    expect(await page.getByTestId("priorities-workloads").textContent()).toBe("6");
    // The CLI says the same for a terminal.
    expect((await cli("--release", "1.33")).split("\n")[1]).toBe(
      "0 workloads. No conformance test is recorded for this release: every endpoint and field workloads use is listed. " +
        "No workload's calls are recorded in this selection, so there is nothing to rank yet (apisnoop's published data " +
        "holds e2e tests only). Measure workloads through the proxy (`npm start` writes `apisnoop.kubeconfig` for Helm, " +
        "operators and kubectl; `npm run demo` runs a scripted workload) or import an audit log or a hit file " +
        "(`apisnoop import audit|hits FILE --release 1.33`).",
    );
    expect(browser.errors).toEqual([]);
  });

  // After the test above: 1.33 gets its first workload here.
  it("says field gaps are uncertain while no conformance run's bodies are recorded", async () => {
    const kubectl = sourceFromUserAgent("kubectl/v1.33.1 (linux/amd64) kubernetes/abc");
    const batch = hitBatch([kubectl], [[0, "readCoreV1NamespacedConfigMap", 2]], "1.33");
    batch.fields = [
      {
        source: 0,
        operationId: "readCoreV1NamespacedConfigMap",
        direction: "response",
        field: "io.k8s.api.core.v1.ConfigMap:data",
        unknown: false,
        hour: Math.floor(Date.now() / 3_600_000),
        count: 2,
      },
    ];
    expect(await stack.ingest(batch)).toMatchObject({ ok: true });
    const { page } = browser;
    await page.goto(`${stack.url}/priorities?release=1.33`);
    expect(await page.getByTestId("priority-fields").locator("tr[data-field]").count()).toBe(1);
    expect(await page.getByTestId("no-conformance-bodies").textContent()).toMatch(
      /^No conformance test's bodies are recorded for this release .*\(npm run e2e:conformance, /,
    );
    expect(await cli("--release", "1.33", "--format", "markdown")).toContain(
      "No conformance test's bodies are recorded for this release",
    );
    // 1.34 has a conformance run's bodies: its field gaps are known.
    await page.goto(`${stack.url}/priorities?release=1.34`);
    expect(await page.getByTestId("no-conformance-bodies").count()).toBe(0);
    expect(await cli("--release", "1.34")).not.toContain("No conformance test's bodies are recorded");
    expect(browser.errors).toEqual([]);
  });

  it("refuses a bad limit or filter with a 400 naming it", async () => {
    for (const [query, message] of [
      ["limit=0", /limit must be a whole number/],
      ["limit=abc", /limit must be a whole number/],
      ["level=gamma", /invalid filter level/],
    ] as const) {
      const response = await fetch(`${stack.url}/api/v1/priorities?${query}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(message);
    }
  });

  it("shows the next tests to write in Chromium, each linked to its endpoint page", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/priorities?release=1.34`);
    expect(await page.getByTestId("priorities-title").textContent()).toBe(
      "Tests to write next: release 1.34",
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, "priorities.png"), fullPage: true });
    const rows = page.getByTestId("priority-endpoints").locator("tr[data-operation-id]");
    // The eligible ones: beta and alpha endpoints are listed apart.
    expect(
      await rows.evaluateAll((trs) =>
        trs.map((tr) => [
          tr.getAttribute("data-operation-id"),
          Number(tr.querySelector('[data-column="workloads"]')?.textContent),
        ]),
      ),
    ).toEqual(RANKED_ENDPOINTS.filter(([id]) => !/V1beta1|V1alpha1/.test(id as string)));
    expect(await page.getByTestId("priorities-eligible").textContent()).toBe("5");
    expect(await page.getByTestId("priorities-workloads").textContent()).toBe("6");
    expect(await page.getByTestId("conformance-sources").textContent()).toContain(
      "endpoints only: it has no fields",
    );
    const fields = page.getByTestId("priority-fields").locator("tr[data-field]");
    expect(await fields.count()).toBe(6);
    expect(await fields.nth(4).textContent()).toContain("yes, no bodies recorded");
    // A workload links to its chart's page.
    const chartLink = rows.first().getByRole("link", { name: "chart cert-manager" });
    expect(await chartLink.getAttribute("href")).toBe("/charts/cert-manager?release=1.34");
    await rows.first().getByRole("link", { name: "readCoreV1NamespacedConfigMap" }).click();
    await page.waitForURL(/\/endpoints\/readCoreV1NamespacedConfigMap\?release=1\.34$/);
    await page.goBack();
    // Filters in the URL narrow the workloads, and the nav reaches the view.
    await page.goto(`${stack.url}/priorities?release=1.34&chart=cert-manager`);
    expect(await page.getByTestId("priorities-workloads").textContent()).toBe("1");
    await page.goto(`${stack.url}/?release=1.34`);
    await page
      .getByRole("navigation", { name: "Views" })
      .getByRole("link", { name: "Tests to write" })
      .click();
    await page.waitForURL(/\/priorities\?release=1\.34$/);
    // Chromium asks for /favicon.ico now and then whatever the page links: a 404 is a console error.
    const icon = await fetch(`${stack.url}/favicon.ico`);
    expect([icon.status, icon.headers.get("content-type")]).toEqual([200, "image/svg+xml"]);
    expect(browser.errors).toEqual([]);
  });
});
