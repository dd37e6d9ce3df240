import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { sharedApisnoopCoverage, sharedCatalog } from "@apisnoop/openapi/testing";
import { type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEB_DIR } from "./server/dashboard-server";
import { launchBrowser, type TestBrowser } from "./testing/browser";
import { hitBatch, startTestStack, type TestStack } from "./testing/test-stack";

/** Where the tests leave their screenshots (ignored by git); README's is made on request, see below. */
const SCREENSHOTS = path.join(WEB_DIR, "screenshots");

const kubectl = sourceFromUserAgent("kubectl/v1.34.0 (linux/amd64) kubernetes/abc");
const nginx: Source = {
  ...sourceFromUserAgent("nginx-ingress-controller/v1.10.0"),
  chart: "ingress-nginx-4.10.0",
  namespace: "ingress",
  pod: "ingress-nginx-controller-0",
  serviceAccount: "ingress-nginx",
};
/** What the chart's pod calls; the chart page must list exactly these. */
const CHART_ENDPOINTS = [
  "listCoreV1NamespacedPod",
  "readCoreV1Namespace",
  "listNetworkingV1IngressForAllNamespaces",
  "createCoordinationV1NamespacedLease",
];

describe("the dashboard in Chromium", () => {
  let stack: TestStack;
  let browser: TestBrowser;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    stack = await startTestStack("1.34");
    browser = await launchBrowser();
    const ack = await stack.ingest(
      hitBatch(
        [kubectl, nginx],
        [
          [0, "listCoreV1Node", 4],
          [0, "readCoreV1Namespace", 1],
          ...CHART_ENDPOINTS.map((id, i): [number, string, number] => [1, id, i + 1]),
          [1, "deleteCoreV1NamespacedPod", 1, "4xx"],
        ],
      ),
    );
    expect(ack).toMatchObject({ ok: true, duplicate: false });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("renders one arc per endpoint of the release", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/?release=1.34`);
    const arcs = page.locator("path[data-operation-id]");
    await arcs.first().waitFor();
    expect(await arcs.count()).toBe(sharedCatalog("1.34").endpoints.length);
    expect(await page.locator('path[data-operation-id="listCoreV1Node"]').getAttribute("data-hits")).toBe(
      "4",
    );
    expect(await page.getByTestId("figure-all").textContent()).toContain("6 / 859");
    await page.screenshot({ path: path.join(SCREENSHOTS, "overview.png") });
  });

  it("lights an arc and the counters within a second of a hit's ack", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/?release=1.34`);
    await page.locator('[data-testid="live-indicator"][data-status="live"]').waitFor();
    const arc = page.locator('path[data-operation-id="listStorageV1StorageClass"]');
    expect(await arc.getAttribute("data-hits")).toBe("0");
    const before = await page.getByTestId("figure-hits").textContent();

    const ack = await stack.ingest(hitBatch([kubectl], [[0, "listStorageV1StorageClass", 3]]));
    expect(ack.ok).toBe(true);
    await page.waitForFunction(
      () => {
        const lit = document.querySelector('path[data-operation-id="listStorageV1StorageClass"]');
        return lit?.getAttribute("data-hits") === "3" && lit.classList.contains("arc-flash");
      },
      undefined,
      { timeout: 1000 },
    );
    expect(Number((await page.getByTestId("figure-hits").textContent())?.replace(/,/g, ""))).toBe(
      Number(before?.replace(/,/g, "")) + 3,
    );
    expect(await page.getByTestId("figure-all").textContent()).toContain("7 / 859");
    await page.screenshot({ path: path.join(SCREENSHOTS, "live-hit.png") });
  });

  it("shows the same selection when a filtered URL is reloaded", async () => {
    const { page } = browser;
    const url = `${stack.url}/?release=1.34&chart=ingress-nginx&from=1h&outcome=2xx&level=stable`;
    await page.goto(url);
    const read = async () => ({
      chart: await page.locator('input[name="chart"]').inputValue(),
      window: await page.locator('select[name="from"]').inputValue(),
      outcome: await page.locator('select[name="outcome"]').inputValue(),
      level: await page.locator('select[name="level"]').inputValue(),
      figure: await page.getByTestId("figure-all").textContent(),
      arcs: await page.locator("path[data-operation-id]").count(),
      hit: await page.locator('path[data-operation-id][data-hits]:not([data-hits="0"])').count(),
    });
    await page.locator("path[data-operation-id]").first().waitFor();
    const first = await read();
    expect(first).toMatchObject({ chart: "ingress-nginx", window: "1h", outcome: "2xx", level: "stable" });
    const stable = sharedCatalog("1.34").endpoints.filter((e) => e.level === "stable").length;
    expect(first.arcs).toBe(stable);
    expect(first.hit).toBe(CHART_ENDPOINTS.length); // the 4xx delete is not a 2xx hit
    await page.reload();
    await page.locator("path[data-operation-id]").first().waitFor();
    expect(await read()).toEqual(first);

    // Changing a filter in the bar changes the address: the URL is the state.
    await page.locator('select[name="outcome"]').selectOption("any");
    await page.waitForURL((address) => !address.searchParams.has("outcome"));
    expect(new URL(page.url()).searchParams.get("chart")).toBe("ingress-nginx");
    await page.waitForFunction(
      (n) =>
        document.querySelectorAll('path[data-operation-id][data-hits]:not([data-hits="0"])').length === n,
      CHART_ENDPOINTS.length + 1,
    );
  });

  it("lists exactly the chart's endpoints on the chart page", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/charts/ingress-nginx?release=1.34`);
    await page.getByTestId("chart-name").waitFor();
    const listed = await page
      .locator('[data-testid="chart-endpoints"] tr[data-operation-id]')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-operation-id")));
    expect(listed.sort()).toEqual([...CHART_ENDPOINTS, "deleteCoreV1NamespacedPod"].sort());
    expect(await page.getByTestId("chart-pods").textContent()).toContain("ingress-nginx-controller-0");
    await page.screenshot({ path: path.join(SCREENSHOTS, "chart.png") });
    expect((await page.goto(`${stack.url}/charts/no-such-chart`))?.status()).toBe(404);
  });

  it("shows calls to the apiserver's own paths apart from unknown calls, and counts only the latter", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/?release=1.34`);
    const unknownBefore = Number(await page.getByTestId("figure-unknown").textContent());
    const batch = hitBatch([kubectl], []);
    const minute = Math.floor(Date.now() / 60_000);
    const call = { source: 0, method: "GET", minute } as const;
    batch.unknownCalls = [
      {
        ...call,
        path: "/apis/nope.example.com/v1/things",
        reason: "group not served by this spec",
        statusClass: "4xx",
        count: 2,
      },
      {
        ...call,
        path: "/openapi/v3/apis/apps/v1",
        reason: "apiserver path outside the spec",
        statusClass: "2xx",
        count: 5,
      },
    ];
    expect(await stack.ingest(batch)).toMatchObject({ ok: true });
    await page.goto(`${stack.url}/?release=1.34`);
    expect(Number(await page.getByTestId("figure-unknown").textContent())).toBe(unknownBefore + 2);
    await page.goto(`${stack.url}/unknown?release=1.34`);
    const unknown = await page.getByTestId("unknown-calls").textContent();
    expect(unknown).toContain("/apis/nope.example.com/v1/things");
    expect(unknown).not.toContain("/openapi/v3");
    expect(await page.getByTestId("outside-spec-calls").textContent()).toContain(
      "GET /openapi/v3/apis/apps/v1",
    );
  });

  it("/compare with one release loaded says how to load another, not an error", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/compare`);
    expect(await page.getByTestId("nothing-to-compare").textContent()).toContain("Only 1.34 is loaded");
    expect(await page.getByText("These filters cannot be shown").count()).toBe(0);
  });

  it("zooms with the keyboard", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/?release=1.34`);
    const current = page.getByTestId("breadcrumb-current");
    await page.getByTestId("sunburst").focus();
    expect(await current.textContent()).toBe("all");
    await page.keyboard.press("ArrowRight"); // the cursor enters the first ring: stable
    await page.keyboard.press("Enter"); // zoom into stable
    await page.waitForFunction(
      () => document.querySelector('[data-testid="breadcrumb-current"]')?.textContent === "stable",
    );
    await page.keyboard.press("Enter"); // zoom into stable's first category: core
    await page.waitForFunction(
      () => document.querySelector('[data-testid="breadcrumb-current"]')?.textContent === "core",
    );
    await page.waitForTimeout(600); // let the zoom transition end
    const coreEndpoints = sharedCatalog("1.34").endpoints.filter(
      (e) => e.level === "stable" && e.category === "core",
    );
    expect(await page.locator("path[data-operation-id]").count()).toBe(coreEndpoints.length);
    await page.screenshot({ path: path.join(SCREENSHOTS, "zoomed.png") });
    await page.keyboard.press("Escape");
    await page.keyboard.press("Escape");
    await page.waitForFunction(
      () => document.querySelector('[data-testid="breadcrumb-current"]')?.textContent === "all",
    );
    await page.keyboard.press("ArrowRight"); // from stable (where Escape left the cursor) to beta
    expect(await page.locator("#sunburst-announcement").textContent()).toMatch(/^beta \(level\)/);
  });

  it("leads from an arc to its endpoint page", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/endpoints/listCoreV1Node?release=1.34`);
    expect(await page.getByTestId("endpoint-title").textContent()).toBe("listCoreV1Node");
    expect(await page.getByTestId("endpoint-hits").textContent()).toBe("4");
    expect(await page.getByTestId("endpoint-details").textContent()).toBe("—");
    // How it was called: the proxy's details per hit, summed.
    const watched = hitBatch([kubectl], [[0, "listCoreV1Node", 3]]);
    for (const hit of watched.hits) hit.details = { watch: 2, "subresource:status": 1 };
    expect(await stack.ingest(watched)).toMatchObject({ ok: true });
    await page.goto(`${stack.url}/endpoints/listCoreV1Node?release=1.34`);
    expect(await page.getByTestId("endpoint-details").textContent()).toBe("watch: 2 · subresource:status: 1");
    expect((await page.goto(`${stack.url}/endpoints/noSuchOperation?release=1.34`))?.status()).toBe(404);
  });

  it("draws the README's screenshot: an e2e run's coverage, live", async () => {
    // What apisnoop says the upstream conformance tests exercise in 1.34, as if an e2e run went through.
    const published = sharedApisnoopCoverage("1.34").endpoints.filter((e) => e.conf_tested);
    const e2e = sourceFromUserAgent("e2e.test/v1.34.0 -- [sig-architecture] Conformance run [Conformance]");
    const ack = await stack.ingest(
      hitBatch(
        [e2e],
        published.map((e, i): [number, string, number] => [0, e.endpoint, 1 + (i % 7)]),
      ),
    );
    expect(ack.ok).toBe(true);
    const { page } = browser;
    await page.goto(`${stack.url}/?release=1.34`);
    await page.locator('[data-testid="live-indicator"][data-status="live"]').waitFor();
    await stack.ingest(hitBatch([kubectl], [[0, "listCoreV1PersistentVolume", 1]]));
    await page.locator('path[data-operation-id="listCoreV1PersistentVolume"].arc-flash').waitFor();
    await page.mouse.move(0, 0);
    // The page as a 1400 x 1300 screen shows it, at 70%: small enough for a README, with the whole sunburst.
    await page.setViewportSize({ width: 980, height: 910 });
    await page.evaluate(() => {
      document.body.style.zoom = "0.7";
    });
    const file = path.join(SCREENSHOTS, "dashboard.png");
    await page.screenshot({ path: file });
    await page.setViewportSize({ width: 1280, height: 900 });
    // Refresh the committed copy on request: APISNOOP_README_SCREENSHOT=1 npx vitest run --project stack
    if (process.env.APISNOOP_README_SCREENSHOT === "1")
      copyFileSync(file, path.join(WEB_DIR, "docs", "dashboard.png"));
  });

  it("logged no console errors", () => {
    // The two 404 pages above log their status as a resource error; nothing else may.
    expect(browser.errors.filter((error) => !/status of 404/.test(error))).toEqual([]);
  });
});
