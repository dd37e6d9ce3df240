/**
 * The proxy's own API calls against a local upstream that misbehaves as a hostile or broken one can:
 * takes the connection and never answers, answers and never ends, sends an endless body or an endless
 * line, cuts the stream, ends every watch at once, answers 410 or 403.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpStatusError, type OwnApiCall, ownApiGet, ownApiWatch, ResourceVersionGone } from "./own-api";
import { type LocalApiserver, localApiserver, silentServer } from "./testing";
import type { Upstream } from "./upstream";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-own-api-test-"));
let apiserver: LocalApiserver;
let upstream: Upstream;
let silent: Awaited<ReturnType<typeof silentServer>>;
let answer: (res: ServerResponse) => void = (res) => res.end();
/** Settles once the last answer's connection is closed (by the client, for a refused answer). */
let lastClosed: Promise<void> = Promise.resolve();

beforeAll(async () => {
  apiserver = await localApiserver(dir, (_req, res) => {
    lastClosed = new Promise((resolve) => res.on("close", resolve));
    answer(res);
  });
  upstream = apiserver.upstream;
  silent = await silentServer();
});

afterAll(async () => {
  await Promise.all([apiserver.close(), silent.close()]);
  rmSync(dir, { recursive: true, force: true });
});

function call(more: Partial<OwnApiCall> = {}): OwnApiCall {
  return { upstream, path: "/x", what: "test call", userAgent: "apisnoop-test", ...more };
}

/** Writes `chunk` every few milliseconds until the client goes away. */
function endless(res: ServerResponse, chunk: string): void {
  const timer = setInterval(() => {
    if (res.destroyed) clearInterval(timer);
    else res.write(chunk);
  }, 1);
  res.on("close", () => clearInterval(timer));
}

describe("ownApiGet", () => {
  it("gives up on an upstream that takes the connection and never answers", async () => {
    await expect(
      ownApiGet({ ...call({ upstream: silent.upstream }), maxBodyBytes: 1024, timeoutMs: 300 }),
    ).rejects.toThrow("test call: no answer within 300 ms");
    // The silent server sees the connection closed (under load, later than at once; else a test timeout).
    while (silent.sockets.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  });

  it("gives up on an answer whose body never ends", async () => {
    answer = (res) => res.write("{");
    await expect(ownApiGet({ ...call(), maxBodyBytes: 1024, timeoutMs: 300 })).rejects.toThrow(
      "no answer within 300 ms",
    );
    await lastClosed;
  });

  it("refuses a body past its bound and closes the connection", async () => {
    answer = (res) => endless(res, "x".repeat(16 * 1024));
    await expect(ownApiGet({ ...call(), maxBodyBytes: 1024 * 1024 })).rejects.toThrow(
      "test call: an answer longer than 1048576 bytes",
    );
    await lastClosed;
  });

  it("returns the body of a 200 and only the status of anything else", async () => {
    answer = (res) => res.end('{"ok":true}');
    expect((await ownApiGet({ ...call(), maxBodyBytes: 1024 })).toString()).toBe('{"ok":true}');
    answer = (res) => {
      res.statusCode = 403;
      res.end("the request echoed: Bearer test-token");
    };
    const failure = await ownApiGet({ ...call(), maxBodyBytes: 1024 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HttpStatusError);
    expect((failure as Error).message).toBe("test call: HTTP 403");
  });

  it("stops at once when aborted", async () => {
    const controller = new AbortController();
    const get = ownApiGet({
      ...call({ upstream: silent.upstream, signal: controller.signal }),
      maxBodyBytes: 1,
    });
    controller.abort(new Error("stopped"));
    await expect(get).rejects.toThrow("stopped");
  });
});

describe("ownApiWatch", () => {
  /** A line handler that keeps what it is given. */
  const keep = (lines: string[]) => (line: string) => {
    lines.push(line);
    return null;
  };
  const watch = (more: Partial<Parameters<typeof ownApiWatch>[0]> = {}) =>
    ownApiWatch({ ...call(), maxEventBytes: 1024 * 1024, timeoutMs: 5000, onLine: () => null, ...more });

  it("refuses an endless line and closes the connection", async () => {
    answer = (res) => endless(res, "x".repeat(16 * 1024));
    const lines: string[] = [];
    await expect(watch({ onLine: keep(lines) })).rejects.toThrow(
      "test call: an event longer than 1048576 bytes",
    );
    expect(lines).toEqual([]);
    await lastClosed;
  });

  it("refuses a line past its bound even when it arrives whole", async () => {
    answer = (res) => res.end(`${"x".repeat(2048)}\n`);
    await expect(watch({ maxEventBytes: 1024 })).rejects.toThrow("an event longer than 1024 bytes");
  });

  it("hands over each line and resolves with their number when the upstream ends the watch", async () => {
    answer = (res) => {
      res.write('{"type":"ADDED"}\n\n{"type":"MOD');
      setTimeout(() => res.end('IFIED"}\n'), 10);
    };
    const lines: string[] = [];
    let opened = 0;
    expect(await watch({ onOpen: () => opened++, onLine: keep(lines) })).toBe(2);
    expect(lines).toEqual(['{"type":"ADDED"}', '{"type":"MODIFIED"}']);
    expect(opened).toBe(1);
  });

  it("takes a watch ended at once with no event for a failure, a later end for the upstream's", async () => {
    answer = (res) => res.end();
    await expect(watch()).rejects.toThrow("test call: the watch ended at once with no event");
    expect(await watch({ minWatchMs: 0 })).toBe(0);
  });

  it("takes a cut stream for a failure, not for the upstream's end", async () => {
    answer = (res) => {
      res.write('{"type":"ADDED"}\n');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    await expect(watch()).rejects.toThrow(/mid-answer|aborted|socket hang up|ECONNRESET/);
  });

  it("ends with what a line's handler returns, and closes the connection", async () => {
    answer = (res) => endless(res, '{"type":"ERROR"}\n');
    await expect(watch({ onLine: () => new Error("an ERROR event") })).rejects.toThrow("an ERROR event");
    await lastClosed;
  });

  it("says 'list again' for a 410 answer and keeps only the status of others", async () => {
    answer = (res) => {
      res.statusCode = 410;
      res.end("{}");
    };
    await expect(watch()).rejects.toBeInstanceOf(ResourceVersionGone);
    answer = (res) => {
      res.statusCode = 500;
      endless(res, "x");
    };
    await expect(watch()).rejects.toThrow(/^test call: HTTP 500$/);
    await lastClosed;
  });

  it("gives up on a watch the upstream never ends", async () => {
    answer = (res) => endless(res, "\n");
    await expect(watch({ timeoutMs: 300 })).rejects.toThrow(
      "test call: no end from the apiserver within 300 ms",
    );
    await lastClosed;
  });
});
