import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { openTestDatabase } from "@apisnoop/db/testing";
import { SHARED_K8S } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseRig, startRig } from "../../../tools/rig/lifecycle";
import { readRigState } from "../../../tools/rig/rig";
import { readEnv } from "./env";
import { type LocalStack, startLocalStack } from "./start/local-stack";
import { launchBrowser, type TestBrowser } from "./testing/browser";

const run = promisify(execFile);

/**
 * The path every hit takes (GUIDE §2), for real: kubectl -> apisnoop.kubeconfig -> the proxy -> the
 * real kube-apiserver of tools/rig; the hit goes up the ingest namespace into PostgreSQL and out to the
 * browser's sunburst. This is what `npm start` runs.
 */
describe("a request through the proxy, on the dashboard", () => {
  let stack: LocalStack;
  let browser: TestBrowser;
  let workDir: string;

  beforeAll(async () => {
    await startRig("global-setup", () => {});
    workDir = mkdtempSync(path.join(tmpdir(), "apisnoop-local-stack-"));
    const env = readEnv({
      PORT: "0",
      APISNOOP_PROXY_LISTEN: "127.0.0.1:0",
      KUBECONFIG: readRigState().kubeconfigs.admin,
      APISNOOP_REFERENCE_DIR: SHARED_K8S,
      APISNOOP_RELEASES: "1.34",
      APISNOOP_UPSTREAM_IMPORT: "0", // the arcs must light for kubectl's calls alone
      APISNOOP_CACHE_DIR: path.join(workDir, "cache"),
    });
    stack = await startLocalStack({
      env,
      workDir,
      database: await openTestDatabase(),
      caDir: path.join(workDir, "ca"),
      log: () => {},
    });
    browser = await launchBrowser();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await releaseRig();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("runs the proxy in front of the cluster and writes apisnoop.kubeconfig", () => {
    expect(stack.proxyProblem).toBeNull();
    // Local state under .apisnoop/, where git ignores it: never a spool/ beside the checkout's files.
    expect(existsSync(path.join(workDir, ".apisnoop", "spool"))).toBe(true);
    expect(existsSync(path.join(workDir, "spool"))).toBe(false);
    expect(stack.web.releases[0]).toMatchObject({ release: "1.34", endpoints: 859 });
    expect(readFileSync(stack.kubeconfigPath as string, "utf8")).toContain(stack.proxy?.url);
  });

  it("lights the arc of a kubectl call and the counters within a second", async () => {
    const { page } = browser;
    await page.goto(stack.web.url);
    await page.locator('[data-testid="live-indicator"][data-status="live"]').waitFor();
    const arc = 'path[data-operation-id="listCoreV1NamespacedConfigMap"]';
    expect(await page.locator(arc).getAttribute("data-hits")).toBe("0");
    await run("kubectl", [
      "--kubeconfig",
      stack.kubeconfigPath as string,
      "get",
      "configmaps",
      "-n",
      "default",
    ]);
    const done = Date.now();
    await page.waitForFunction(
      (selector) => {
        const lit = document.querySelector(selector);
        return lit?.classList.contains("arc-flash") && lit.getAttribute("data-hits") !== "0";
      },
      arc,
      { timeout: 1000 },
    );
    console.log(`kubectl exit to lit arc: ${Date.now() - done} ms`);
    // kubectl (and Debian's kubectl dispatcher before it) are new sources of this page.
    expect(Number(await page.getByTestId("figure-sources").textContent())).toBeGreaterThanOrEqual(1);
    expect(
      Number((await page.getByTestId("figure-hits").textContent())?.replace(/,/g, "")),
    ).toBeGreaterThanOrEqual(1);
    expect(browser.errors).toEqual([]);
  });
});
