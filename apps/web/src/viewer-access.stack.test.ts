import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { LIVE_NAMESPACE, sourceFromUserAgent } from "@apisnoop/protocol";
import { io, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, type TestBrowser } from "./testing/browser";
import { hitBatch, startTestStack, type TestStack } from "./testing/test-stack";

const USER = "viewer";
const PASSWORD = randomBytes(18).toString("base64url");
const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
const kubectl = sourceFromUserAgent("kubectl/v1.34.0 (linux/amd64) kubernetes/abc");

/** A GET (or a WebSocket upgrade, with `upgrade`) by hand: status, challenge header and body. */
function get(url: string, headers: Record<string, string> = {}, upgrade = false) {
  return new Promise<{ status: number; challenge: string | undefined; body: string }>((resolve, reject) => {
    const upgradeHeaders = upgrade
      ? {
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": randomBytes(16).toString("base64"),
        }
      : {};
    const outgoing = request(url, { headers: { ...upgradeHeaders, ...headers } });
    outgoing.on("response", (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          challenge: response.headers["www-authenticate"],
          body,
        }),
      );
    });
    outgoing.on("upgrade", (_response, socket) => {
      socket.destroy();
      resolve({ status: 101, challenge: undefined, body: "" });
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

describe("a dashboard with a viewer password and a cap on live viewers", () => {
  let stack: TestStack;
  let browser: TestBrowser;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    stack = await startTestStack("1.34", {
      APISNOOP_DASHBOARD_USER: USER,
      APISNOOP_DASHBOARD_PASSWORD: PASSWORD,
      APISNOOP_LIVE_MAX_VIEWERS: "1",
    });
    browser = await launchBrowser({ httpCredentials: { username: USER, password: PASSWORD } });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    await browser?.close();
    await stack?.close();
  });

  it("answers pages, the API and the live socket only with the credentials; /healthz always", async () => {
    for (const path of ["/", "/api/v1/coverage", "/unknown", "/_next/static/x.js"]) {
      const answer = await get(`${stack.url}${path}`);
      expect(answer.status, path).toBe(401);
      expect(answer.challenge).toBe('Basic realm="apisnoop", charset="UTF-8"');
    }
    expect(
      (await get(`${stack.url}/api/v1/coverage`, { authorization: "Basic d3Jvbmc6d3Jvbmc=" })).status,
    ).toBe(401);
    expect((await get(`${stack.url}/api/v1/coverage`, { authorization: basic })).status).toBe(200);
    expect((await get(`${stack.url}/api/v1/coverage`, { authorization: `Bearer ${PASSWORD}` })).status).toBe(
      200,
    );
    expect(await get(`${stack.url}/healthz`)).toMatchObject({ status: 200, body: "ok" });

    const live = `${stack.url}/socket.io/?EIO=4&transport=websocket`;
    expect((await get(live, {}, true)).status).toBe(400);
    expect((await get(live, { authorization: basic }, true)).status).toBe(101);
    // An upgrade to any other path is answered, not left holding a socket.
    expect(await get(`${stack.url}/anything`, { authorization: basic }, true)).toMatchObject({ status: 404 });
  });

  it("still takes batches from proxies, which carry the ingest token and no viewer password", async () => {
    expect(await stack.ingest(hitBatch([kubectl], [[0, "listCoreV1Node", 2]]))).toMatchObject({ ok: true });
  });

  it("shows the dashboard live in a browser that signed in, and tells a second page it is busy", async () => {
    const { page, context } = browser;
    await page.goto(`${stack.url}/?release=1.34`);
    await page.locator('[data-testid="live-indicator"][data-status="live"]').waitFor();
    expect(await stack.ingest(hitBatch([kubectl], [[0, "listStorageV1StorageClass", 3]]))).toMatchObject({
      ok: true,
    });
    await page.waitForFunction(
      () =>
        document
          .querySelector('path[data-operation-id="listStorageV1StorageClass"]')
          ?.getAttribute("data-hits") === "3",
    );
    // The cap is 1: a second page gets the dashboard but not live updates, and says why.
    const second = await context.newPage();
    await second.goto(`${stack.url}/?release=1.34`);
    await second.locator('[data-testid="live-indicator"][data-status="busy"]').waitFor();
    expect(await second.getByTestId("live-indicator").textContent()).toBe(
      "live updates paused: too many viewers",
    );
    await second.close();
    expect(browser.errors.filter((error) => !/401|WebSocket/.test(error))).toEqual([]);
  });

  it("refuses a live socket without the credentials", async () => {
    const socket = io(`${stack.url}${LIVE_NAMESPACE}`, { transports: ["websocket"], reconnection: false });
    sockets.push(socket);
    const failed = await new Promise<string>((resolve) =>
      socket.once("connect_error", (e) => resolve(e.message)),
    );
    expect(failed).toBe("websocket error");
  });
});
