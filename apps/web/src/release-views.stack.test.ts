import { execFile } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  diffReleases,
  isConformanceEligible,
  parseApisnoopCoverage,
  parseIneligible,
  upstreamE2eBatch,
} from "@apisnoop/coverage";
import { recordBatch } from "@apisnoop/db";
import { SHARED_K8S, sharedApisnoopCoverage, sharedCatalog } from "@apisnoop/openapi/testing";
import { type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEB_DIR } from "./server/dashboard-server";
import { launchBrowser, type TestBrowser } from "./testing/browser";
import { hitBatch, startTestStack, type TestStack } from "./testing/test-stack";

/** Where the tests leave their screenshots (ignored by git). */
const SCREENSHOTS = path.join(WEB_DIR, "screenshots");

const operator: Source = {
  ...sourceFromUserAgent("my-operator/1.0"),
  chart: "my-operator-1.2.3",
  namespace: "ops",
  pod: "my-operator-0",
};
const kubectl = sourceFromUserAgent("kubectl/v1.34.0 (linux/amd64) kubernetes/abc");
/** An e2e test of a CI run: the main branch's run main-1, a pull request's pr-2. */
const e2e = (test: string, run: string): Source => ({
  ...sourceFromUserAgent(`e2e.test/v1.34.0 -- ${test}`),
  cluster: "ci",
  run,
});
const published = (release: string) => parseApisnoopCoverage(sharedApisnoopCoverage(release));
const ineligible = parseIneligible(
  JSON.parse(readFileSync(path.join(SHARED_K8S, "apisnoop", "ineligible_endpoints.json"), "utf8")),
);

describe("/compare and /conformance in Chromium", () => {
  let stack: TestStack;
  let browser: TestBrowser;
  const text = (testId: string) => browser.page.getByTestId(testId).first().textContent();

  beforeAll(async () => {
    stack = await startTestStack("1.34,1.33,1.35");
    browser = await launchBrowser();
    // The operator listed v1alpha3 DeviceClasses on 1.33 (gone in 1.34), v1 ones on 1.34, and pods.
    for (const [release, hits] of [
      [
        "1.33",
        [
          [0, "readCoreV1Namespace", 2],
          [0, "listResourceV1alpha3DeviceClass", 1],
          [1, "listCoreV1Node", 1],
        ],
      ],
      [
        "1.34",
        [
          [0, "readCoreV1Namespace", 1],
          [0, "listCoreV1NamespacedPod", 3],
          [0, "listResourceV1DeviceClass", 1],
        ],
      ],
    ] as const) {
      const ack = await stack.ingest(
        hitBatch(
          [operator, kubectl],
          hits.map(([s, id, n]) => [s, id, n]),
          release,
        ),
      );
      expect(ack).toMatchObject({ ok: true });
    }
    // The PR's tests stop listing pods and list nodes.
    const runs = hitBatch(
      [
        e2e("[sig-node] Pods should list [Conformance]", "main-1"),
        e2e("[sig-node] Nodes should list", "pr-2"),
        e2e("[sig-node] Pods should list [Conformance]", "pr-2"),
      ],
      [
        [0, "listCoreV1NamespacedPod", 1],
        [0, "readCoreV1Namespace", 1],
        [1, "listCoreV1Node", 2],
        [2, "readCoreV1Namespace", 1],
      ],
      "1.34",
    );
    expect(await stack.ingest(runs)).toMatchObject({ ok: true });
    // What `apisnoop import apisnoop` stores: upstream e2e as the source upstream-e2e.
    for (const release of ["1.34", "1.35"]) {
      const batch = upstreamE2eBatch(published(release), sharedCatalog(release), Date.UTC(2026, 3, 22));
      await recordBatch(stack.app.database.prisma, batch);
    }
    stack.app.data.invalidate();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("/compare shows the spec diff of the two releases and the selection's coverage diff", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/compare?from=1.33&to=1.34&chart=my-operator`);
    expect(await text("compare-title")).toBe("1.33 → 1.34");
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, "compare.png"), fullPage: true });
    const diff = diffReleases(sharedCatalog("1.33"), sharedCatalog("1.34"));
    expect(await text("spec-added")).toBe(String(diff.added.length));
    expect(await text("spec-removed")).toBe(String(diff.removed.length));
    expect(await text("spec-promoted")).toBe(String(diff.promoted.length));
    expect(await text("spec-newly-deprecated")).toBe(String(diff.newlyDeprecated.length));
    const promoted = page.getByTestId("spec-promoted-list");
    expect(await promoted.locator("tr[data-operation-id]").count()).toBe(diff.promoted.length);
    const ids = async (testId: string) =>
      page
        .getByTestId(testId)
        .locator("tr[data-operation-id]")
        .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-operation-id")));
    expect(await ids("coverage-newly-tested")).toEqual(["listCoreV1NamespacedPod"]);
    expect(await ids("coverage-tested-added")).toEqual(["listResourceV1DeviceClass"]);
    expect(await ids("coverage-tested-removed")).toEqual(["listResourceV1alpha3DeviceClass"]);
    expect(await text("coverage-no-longer-tested-count")).toBe("0");
    const all = page.locator('[data-testid="coverage-diff"] tr[data-row="all endpoints"]');
    expect(await all.textContent()).toMatch(/^all endpoints2 \/ 843 · 0\.2%3 \/ 859 · 0\.3%\+1$/);
    // The filter bar keeps the pair: the link stays shareable.
    await page.getByLabel("Filters").getByRole("combobox", { name: "outcome" }).selectOption("2xx");
    await page.waitForURL(/outcome=2xx/);
    const params = new URL(page.url()).searchParams;
    expect(Object.fromEntries(params)).toEqual({
      from: "1.33",
      to: "1.34",
      chart: "my-operator",
      outcome: "2xx",
    });
    expect(await text("compare-title")).toBe("1.33 → 1.34");
    expect(browser.errors).toEqual([]);
  });

  it("/compare with two time windows: the selection's coverage within one release", async () => {
    const { page } = browser;
    // Every hit of the test is in the current minute: nothing before the last hour, all of them after.
    await page.goto(`${stack.url}/compare?from=..1h&to=1h..&release=1.34&chart=my-operator`);
    expect(await text("compare-title")).toBe("1.34: ..1h → 1h..");
    const ids = await page
      .getByTestId("coverage-newly-tested")
      .locator("tr[data-operation-id]")
      .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-operation-id")));
    expect(ids.sort()).toEqual([
      "listCoreV1NamespacedPod",
      "listResourceV1DeviceClass",
      "readCoreV1Namespace",
    ]);
    expect(await page.getByTestId("coverage-tested-added").count()).toBe(0);
    expect(await page.getByTestId("spec-added").count()).toBe(0);
    const all = page.locator('[data-testid="coverage-diff"] tr[data-row="all endpoints"]');
    expect(await all.textContent()).toMatch(/^all endpoints0 \/ 859 · 0\.0%3 \/ 859 · 0\.3%\+3$/);
  });

  it("/compare with two runs: what each hits that the other does not, with the tests responsible", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/compare?from=run:main-1&to=run:pr-2&release=1.34`);
    expect(await text("compare-title")).toBe("1.34: run:main-1 → run:pr-2");
    const rows = (testId: string) => page.getByTestId(testId).locator("tr[data-operation-id]");
    const ids = (testId: string) =>
      rows(testId).evaluateAll((list) => list.map((row) => row.getAttribute("data-operation-id")));
    expect(await ids("coverage-newly-tested")).toEqual(["listCoreV1Node"]);
    expect(await ids("coverage-no-longer-tested")).toEqual(["listCoreV1NamespacedPod"]);
    const added = rows("coverage-newly-tested").first();
    expect(await added.getByTestId("callers").textContent()).toBe("[sig-node] Nodes should list (2)");
    expect(await added.getByTestId("eligible").textContent()).toBe("yes");
    expect(await rows("coverage-no-longer-tested").first().getByTestId("callers").textContent()).toBe(
      "[sig-node] Pods should list [Conformance] (1)",
    );
    const eligible = page.locator('[data-testid="coverage-diff"] tr[data-row="conformance-eligible"]');
    expect(await eligible.textContent()).toMatch(
      /^conformance-eligible2 \/ \d+ · [\d.]+%2 \/ \d+ · [\d.]+%\+0$/,
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, "compare-runs.png"), fullPage: true });
    expect(browser.errors).toEqual([]);
  });

  it("the navigation carries the selection into /compare and /conformance", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/?release=1.34&chart=my-operator&from=24h`);
    const nav = page.getByRole("navigation", { name: "Views" });
    expect(await nav.getByRole("link", { name: "Compare releases" }).getAttribute("href")).toBe(
      "/compare?release=1.34&chart=my-operator",
    );
    expect(await nav.getByRole("link", { name: "Conformance" }).getAttribute("href")).toBe(
      "/conformance?release=1.34",
    );
    await nav.getByRole("link", { name: "Compare releases" }).click();
    await page.waitForURL(/\/compare\?/);
    // 1.34 and the next newer release loaded: the upgrade its users face next.
    expect(await text("compare-title")).toBe("1.34 → 1.35");
  });

  it("/compare without parameters compares the default release with its neighbour", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/compare`);
    // No cluster here: the default release is the newest, 1.35, so the one before it → 1.35.
    expect(await text("compare-title")).toBe("1.34 → 1.35");
    expect(await page.getByText("These filters cannot be shown").count()).toBe(0);
  });

  it("/report: what apisnoop report says for the selection, and the exit code CI would get", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/report?release=1.33&chart=my-operator&target=1.34`);
    expect(await text("report-title")).toBe("Upgrade readiness: 1.33 → 1.34");
    expect(await text("exit-code")).toBe("3");
    const ids = (testId: string) =>
      page
        .getByTestId(testId)
        .locator("tr[data-operation-id]")
        .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-operation-id")));
    expect(await ids("removed")).toEqual(["listResourceV1alpha3DeviceClass"]);
    const row = await page.locator('[data-testid="removed"] tr[data-operation-id]').textContent();
    expect(row).toContain("listResourceV1DeviceClass"); // the replacement 1.34 serves
    expect(row).toContain("ops/my-operator-0 · 1");
    expect(row).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}/); // last called
    await page.screenshot({ path: path.join(SCREENSHOTS, "report.png"), fullPage: true });

    // The CLI, run as the page says, on the same database: the same findings and exit code.
    const command = (await text("report-command")) as string;
    expect(command).toBe(
      "npx apisnoop report --source chart=my-operator --release 1.33 --target-release 1.34",
    );
    const cli = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        ["apps/cli/bin/apisnoop.mjs", ...command.split(" ").slice(2), "--format", "json"],
        {
          cwd: path.resolve(WEB_DIR, "../.."),
          env: { ...process.env, DATABASE_URL: stack.app.database.url, APISNOOP_REFERENCE_DIR: SHARED_K8S },
        },
        (error, stdout) => resolve({ code: error ? Number(error.code) : 0, stdout }),
      );
    });
    expect(cli.code).toBe(3);
    const json = JSON.parse(cli.stdout) as {
      removed: { operationId: string }[];
      deprecated: { operationId: string }[];
    };
    expect(json.removed.map((f) => f.operationId)).toEqual(await ids("removed"));
    expect(json.deprecated.map((f) => f.operationId).sort()).toEqual((await ids("deprecated")).sort());

    // Without a target, the next newer release loaded; linked from the chart page and the overview.
    await page.goto(`${stack.url}/charts/my-operator?release=1.34`);
    await page.getByTestId("chart-readiness-link").click();
    await page.waitForURL(/\/report\?/);
    expect(await text("report-title")).toBe("Upgrade readiness: 1.34 → 1.35");
    expect(await text("exit-code")).toBe("0");
    await page.goto(`${stack.url}/?release=1.34&chart=my-operator`);
    expect(await page.getByTestId("readiness-link").getAttribute("href")).toBe(
      "/report?release=1.34&chart=my-operator",
    );
    await page.goto(`${stack.url}/report?target=1.99`);
    expect(
      await page
        .getByText("target release 1.99 is not loaded: npx apisnoop spec add --release 1.99 loads it")
        .count(),
    ).toBe(1);
    expect(browser.errors).toEqual([]);
  });

  it("/compare explains bad parameters", async () => {
    for (const [query, message] of [
      ["from=1.33&to=1.20", "release 1.20 is not loaded"],
      ["from=24h;x&to=1.34", "invalid parameter from"],
      ["from=1.33&to=1.34&chart=a&chart=b", "invalid filter chart: given 2 times"],
      ["release=1.34&to=1.35", "/compare takes the two releases as from and to"],
      ["from=1.35", "no loaded release is newer than 1.35"],
      ["from=1.33&to=1h..now", "both releases (1.33, 1.34) or both time windows"],
      ["from=2h..1h&to=1h..&outcome=3xx", "invalid filter outcome"],
      ["from=run:a&to=1.34", "both selections FIELD:VALUE"],
      ["from=run:a&to=run:b&run=c", "from and to name the run of each side"],
    ]) {
      const response = await fetch(`${stack.url}/compare?${query}`);
      expect(response.status).toBe(200);
      const html = await response.text();
      expect(html).toContain("These filters cannot be shown");
      expect(html).toContain(message);
    }
  });

  it("/conformance: totals and tested equal apisnoop's; eligible differs before 1.35, and says why", async () => {
    const { page } = browser;
    for (const release of ["1.34", "1.35"]) {
      const upstream = published(release);
      const eligible = sharedCatalog(release).endpoints.filter((e) => isConformanceEligible(e, ineligible));
      await page.goto(`${stack.url}/conformance?release=${release}`);
      expect(await text("conformance-title")).toBe(`Conformance coverage of ${release}`);
      expect(await text("conformance-total")).toBe(String(upstream.totalEndpoints));
      expect(await text("conformance-tested")).toBe(String(upstream.testedEndpoints));
      expect(await text("conformance-eligible")).toBe(String(eligible.length));
      const tested = eligible.filter((e) => upstream.endpoints.get(e.operationId)?.confTested).length;
      expect(await text("conformance-eligible-tested")).toMatch(new RegExp(`^${tested} · `));
      expect(await text("untested-count")).toBe(String(eligible.length - tested));
      const row = page.getByTestId("eligible-row");
      expect(await row.getAttribute("data-differs")).toBe(
        eligible.length === upstream.eligibleTotal ? "false" : "true",
      );
      expect(await text("eligible-explanation")).toContain("the list of that time");
    }
    // 1.34: apisnoop counted more eligible endpoints than the current list allows (the README's figures).
    await page.goto(`${stack.url}/conformance?release=1.34`);
    await page.screenshot({ path: path.join(SCREENSHOTS, "conformance.png") });
    expect(await page.getByTestId("eligible-row").getAttribute("data-differs")).toBe("true");
    const reasons = page.getByTestId("ineligible-list").locator("tr[data-operation-id]");
    expect(await reasons.count()).toBeGreaterThan(0);
    const first = await reasons.first().getAttribute("data-operation-id");
    expect(await reasons.first().locator("td").nth(1).textContent()).toBe(
      ineligible.get(first as string)?.reason,
    );
    expect(browser.errors).toEqual([]);
  });

  it("/conformance says when nothing is imported, and refuses a release that is not loaded", async () => {
    const { page } = browser;
    await page.goto(`${stack.url}/conformance?release=1.33`);
    expect(await text("no-upstream")).toContain("No upstream e2e data for 1.33");
    expect(await text("conformance-tested")).toBe("0");
    await page.goto(`${stack.url}/conformance?release=1.20`);
    expect(await page.locator("section.notice-error").textContent()).toContain("release 1.20 is not loaded");
  });
});
