import path from "node:path";
import { sharedApisnoopCoverage } from "@apisnoop/openapi/testing";
import { sourceFromUserAgent } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEB_DIR } from "./server/dashboard-server";
import { launchBrowser, type TestBrowser } from "./testing/browser";
import { hitBatch, startTestStack, type TestStack } from "./testing/test-stack";

const SCREENSHOTS = path.join(WEB_DIR, "screenshots");
const kubectl = sourceFromUserAgent("kubectl/v1.34.0 (linux/amd64) kubernetes/abc");
/** What apisnoop's published coverage of 1.34 marks tested. */
const published = sharedApisnoopCoverage("1.34").endpoints;
const testedUpstream = published.filter((endpoint) => endpoint.tested).length;

/**
 * The first start as `npm start` runs it: apisnoop's published upstream e2e coverage imported in the
 * background, shown as a source like any other, beside the user's own traffic.
 */
describe("upstream e2e on the overview", () => {
  let stack: TestStack;
  let browser: TestBrowser;
  const figure = (id: string) => browser.page.getByTestId(id).textContent();

  beforeAll(async () => {
    stack = await startTestStack("1.34", { APISNOOP_UPSTREAM_IMPORT: "1" });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("imports the published coverage once, in the background, and the first screen shows it", async () => {
    const { page } = browser;
    await stack.app.upstreamImport.idle();
    expect(stack.app.upstreamImport.states()).toMatchObject([
      { release: "1.34", state: "imported", endpoints: testedUpstream },
    ]);
    await page.goto(stack.url);
    expect(await figure("figure-all")).toContain(`${testedUpstream} / 859`);
    const arcs = page.locator('path[data-operation-id][data-hits]:not([data-hits="0"])');
    expect(await arcs.count()).toBe(testedUpstream);
    // One source row for upstream e2e, however many tests it stands for.
    expect(await figure("figure-sources")).toBe("1");
    const row = page.getByRole("region", { name: "Sources" }).getByRole("link", { name: "upstream e2e" });
    expect(await row.getAttribute("href")).toBe("/?upstream=only");
    // As many tests as the terminal said it imported: apisnoop's hits tied to no test are not one more.
    const [imported] = stack.app.upstreamImport.states();
    expect(imported?.tests).toBe(
      new Set(published.flatMap((endpoint) => endpoint.tests).filter(Boolean)).size,
    );
    expect(await page.getByRole("region", { name: "Sources" }).textContent()).toContain(
      `apisnoop's published coverage, ${imported?.tests.toLocaleString("en")} tests`,
    );
    expect(await page.getByTestId("upstream-import").count()).toBe(0);
    await page.screenshot({ path: path.join(SCREENSHOTS, "first-start.png") });
  });

  it("lists an endpoint's first upstream e2e tests with their count, and all of them on request", async () => {
    const { page } = browser;
    const pods = published.find((endpoint) => endpoint.endpoint === "listCoreV1NamespacedPod");
    const tests = new Set(pods?.tests.filter(Boolean));
    expect(tests.size).toBeGreaterThan(100);
    await page.goto(`${stack.url}/endpoints/listCoreV1NamespacedPod?release=1.34`);
    const list = page.getByTestId("upstream-tests");
    expect(await list.getAttribute("data-count")).toBe(String(tests.size));
    expect(await list.locator(":scope > ul > li").count()).toBe(8);
    const rest = list.locator("details > ul > li");
    expect(await rest.first().isVisible()).toBe(false);
    await list.getByText(`show all ${tests.size.toLocaleString("en")} tests`).click();
    expect(await rest.count()).toBe(tests.size - 8);
    expect(await rest.last().isVisible()).toBe(true);
    // The imported tests are one source here too, not hundreds of rows; no run of the user's called it.
    expect(await page.getByRole("cell", { name: /^upstream e2e · [\d,]+ tests$/ }).count()).toBe(1);
    expect(await page.getByText("No e2e run in this selection called it.").count()).toBe(1);
  });

  it("switches between all sources, your traffic and upstream e2e in one click", async () => {
    const { page } = browser;
    const untestedUpstream = published.find((endpoint) => !endpoint.tested && endpoint.level === "stable");
    const ack = await stack.ingest(
      hitBatch(
        [kubectl],
        [
          [0, "listCoreV1NamespacedPod", 3],
          [0, untestedUpstream?.endpoint as string, 2],
        ],
      ),
    );
    expect(ack.ok).toBe(true);
    await page.goto(stack.url);
    const switcher = page.getByTestId("source-switch");
    await switcher.getByRole("link", { name: "your traffic" }).click();
    await page.waitForURL(/upstream=none/);
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="figure-all"]')?.textContent?.includes("2 / 859"),
    );
    expect(await figure("figure-sources")).toBe("1");
    // Your traffic vs upstream e2e: what you call that upstream e2e does not test.
    expect(await figure("untested-upstream-count")).toBe("1");
    expect(await page.getByTestId("untested-upstream").textContent()).toContain(untestedUpstream?.endpoint);
    await page.screenshot({ path: path.join(SCREENSHOTS, "your-traffic.png"), fullPage: true });

    await switcher.getByRole("link", { name: "upstream e2e" }).click();
    await page.waitForURL(/upstream=only/);
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="figure-all"]')?.textContent?.includes(`${n} / 859`),
      testedUpstream,
    );
    expect(await page.getByTestId("untested-upstream-count").count()).toBe(0);

    await switcher.getByRole("link", { name: "all sources" }).click();
    await page.waitForURL((url) => !url.searchParams.has("upstream"));
    expect(await figure("figure-sources")).toBe("2");
    expect(browser.errors).toEqual([]);
  });
});
