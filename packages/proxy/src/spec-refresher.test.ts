/**
 * The live spec's calls against a local upstream that misbehaves: one that takes the connection and never
 * answers must not hold the proxy's start for ever; a CRD watch that sends an endless line must not grow
 * the proxy's memory; one that ends every watch at once must not be watched in a tight loop.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MAX_WATCH_EVENT_BYTES } from "./own-api";
import { SpecRefresher } from "./spec-refresher";
import { EMPTY_SPEC, type LocalApiserver, localApiserver, silentServer } from "./testing";
import type { Upstream } from "./upstream";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-spec-refresher-test-"));
let apiserver: LocalApiserver;
let upstream: Upstream;
let silent: Awaited<ReturnType<typeof silentServer>>;
/** How the upstream answers a CRD watch. */
let watchAnswer: (res: ServerResponse) => void = (res) => res.end();
const asked: URL[] = [];
let refresher: SpecRefresher | null = null;

beforeAll(async () => {
  apiserver = await localApiserver(dir, (req, res) => {
    const url = new URL(req.url ?? "/", "https://apiserver");
    asked.push(url);
    if (url.pathname === "/openapi/v2") res.end(JSON.stringify(EMPTY_SPEC));
    else if (url.pathname === "/version") res.end('{"major":"1","minor":"34"}');
    else if (url.searchParams.get("watch") === "1") watchAnswer(res);
    else res.end('{"metadata":{"resourceVersion":"5"},"items":[]}');
  });
  upstream = apiserver.upstream;
  silent = await silentServer();
});

afterEach(() => {
  refresher?.stop();
  refresher = null;
});

afterAll(async () => {
  await Promise.all([apiserver.close(), silent.close()]);
  rmSync(dir, { recursive: true, force: true });
});

function crdWatches(): URL[] {
  return asked.filter((url) => url.searchParams.get("watch") === "1");
}

async function until<T>(what: string, check: () => T | null | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("SpecRefresher (live)", () => {
  it("fails its start when the upstream takes the connection and never answers", async () => {
    refresher = new SpecRefresher({
      source: "live",
      upstream: silent.upstream,
      intervalMs: 0,
      timeoutMs: 300,
    });
    await expect(refresher.start()).rejects.toThrow(
      /cannot read the live spec from https:\/\/127\.0\.0\.1:\d+: read the live spec: no answer within 300 ms/,
    );
  });

  it("cuts a CRD watch that sends an endless line, and watches again", async () => {
    asked.length = 0;
    let cut = 0;
    watchAnswer = (res) => {
      if (crdWatches().length > 1) return res.end();
      const timer = setInterval(() => res.write("x".repeat(64 * 1024)), 1);
      res.on("close", () => {
        clearInterval(timer);
        cut++;
      });
    };
    const errors: string[] = [];
    refresher = new SpecRefresher({
      source: "live",
      upstream,
      intervalMs: 0,
      onError: (message) => errors.push(message),
    });
    await refresher.start();
    await until("the failure", () => errors[0]);
    expect(errors[0]).toContain(`an event longer than ${MAX_WATCH_EVENT_BYTES} bytes`);
    await until("the cut", () => cut === 1);
    await until("a second watch", () => crdWatches().length >= 2);
  });

  it("does not watch in a tight loop an upstream that ends every watch at once", async () => {
    asked.length = 0;
    watchAnswer = (res) => res.end();
    const errors: string[] = [];
    refresher = new SpecRefresher({
      source: "live",
      upstream,
      intervalMs: 0,
      onError: (message) => errors.push(message),
    });
    await refresher.start();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // At once, after 1 s, then after 2 s more: two or three watches; without the backoff, thousands.
    expect(crdWatches().length).toBeGreaterThanOrEqual(1);
    expect(crdWatches().length).toBeLessThanOrEqual(4);
    expect(errors[0]).toContain("the watch ended at once with no event");
  });

  it("reloads the spec when a CRD changes", async () => {
    asked.length = 0;
    watchAnswer = (res) => res.write('{"type":"ADDED","object":{"kind":"CustomResourceDefinition"}}\n');
    const loads: number[] = [];
    refresher = new SpecRefresher({
      source: "live",
      upstream,
      intervalMs: 0,
      debounceMs: 10,
      onLoaded: ({ operations }) => loads.push(operations),
    });
    await refresher.start();
    await until("a reload", () => loads.length >= 2);
    expect(crdWatches()[0]?.searchParams.get("resourceVersion")).toBe("5");
  });
});
