import { mkdtempSync, rmSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { describeError, PodDirectory, podAddresses, podIdentity } from "./pod-directory";
import { type LocalApiserver, localApiserver } from "./testing";

describe("podAddresses", () => {
  it("takes podIP and every podIPs entry, normalised and once", () => {
    expect(
      podAddresses({
        status: { podIP: "10.0.0.5", podIPs: [{ ip: "10.0.0.5" }, { ip: "FD00:0::5" }] },
      }),
    ).toEqual(["10.0.0.5", "fd00::5"]);
  });

  it("never names a host IP or the IP of a finished pod", () => {
    expect(
      podAddresses({ spec: { hostNetwork: true, containers: [] }, status: { podIP: "192.168.1.1" } }),
    ).toEqual([]);
    expect(podAddresses({ status: { phase: "Succeeded", podIP: "10.0.0.6" } })).toEqual([]);
    expect(podAddresses({ status: { phase: "Failed", podIP: "10.0.0.6" } })).toEqual([]);
    expect(podAddresses({ status: { phase: "Pending" } })).toEqual([]);
  });
});

describe("describeError", () => {
  it("keeps only the status of an HTTP failure: client-node's message carries the response headers", () => {
    const error = Object.assign(
      new Error("HTTP-Code: 403\nMessage: Unknown API Status Code!\nHeaders: {...}"),
      {
        code: 403,
      },
    );
    expect(describeError(error)).toBe("HTTP 403");
  });

  it("is one line with the cause of a network failure", () => {
    const error = new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:1") });
    expect(describeError(error)).toBe("fetch failed: connect ECONNREFUSED 127.0.0.1:1");
    expect(describeError(new Error("a\nb"))).toBe("a");
  });
});

describe("podIdentity", () => {
  it("reads the source name and the run from the pod's apisnoop.io annotations", () => {
    const identity = podIdentity({
      metadata: {
        name: "e2e-runner",
        namespace: "ci",
        annotations: { "apisnoop.io/source": "conformance", "apisnoop.io/run": "pr-42-attempt-1" },
      },
    });
    expect(identity).toMatchObject({ pod: "e2e-runner", sourceName: "conformance", run: "pr-42-attempt-1" });
    expect(podIdentity({ metadata: { name: "plain", namespace: "ci" } }).run).toBeNull();
  });
});

describe("PodDirectory against an apiserver that fails at once", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-pod-directory-test-"));
  let apiserver: LocalApiserver;
  const asked: URL[] = [];
  let watchAnswer: (res: ServerResponse) => void = (res) => res.end();
  let listHangs = false;
  let directory: PodDirectory | null = null;

  beforeAll(async () => {
    apiserver = await localApiserver(dir, (req, res) => {
      const url = new URL(req.url ?? "/", "https://apiserver");
      asked.push(url);
      if (url.searchParams.get("watch") === "1") watchAnswer(res);
      else if (listHangs) return;
      else res.end('{"metadata":{"resourceVersion":"7"},"items":[]}');
    });
  });
  afterEach(() => {
    directory?.stop();
    directory = null;
  });
  afterAll(async () => {
    await apiserver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Requests in the first two seconds of a directory, and what it logged. */
  async function twoSeconds(): Promise<{ requests: number; lines: string[] }> {
    asked.length = 0;
    const lines: string[] = [];
    directory = await PodDirectory.start({ upstream: apiserver.upstream, log: (line) => lines.push(line) });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return { requests: asked.length, lines };
  }

  it("fails its start when the list is never answered", async () => {
    listHangs = true;
    try {
      await expect(PodDirectory.start({ upstream: apiserver.upstream, listTimeoutMs: 300 })).rejects.toThrow(
        "cannot list pods: list pods: no answer within 300 ms",
      );
    } finally {
      listHangs = false;
    }
  });

  it("backs off from an apiserver that answers every watch with an empty 200", async () => {
    watchAnswer = (res) => res.end();
    const { requests, lines } = await twoSeconds();
    // A list and a watch at once, after 1 s and after 2 s more: four; without the backoff, thousands.
    expect(requests).toBeGreaterThanOrEqual(2);
    expect(requests).toBeLessThanOrEqual(6);
    expect(lines[0]).toMatch(
      /^pod directory: watching pods failed \(watch pods: the watch ended at once with no event\); retrying in 1000 ms; pod attribution is stale until it recovers$/,
    );
    // Each of those watches was opened before it ended: none of them counts as a recovery.
    expect(lines.filter((line) => line.includes("again"))).toEqual([]);
    expect(directory?.stats()).toMatchObject({ stale: true });
    expect(directory?.stats().failures).toBeGreaterThanOrEqual(1);
  });

  it("backs off from an apiserver that answers every watch 410 at once, quietly", async () => {
    watchAnswer = (res) => {
      res.statusCode = 410;
      res.end();
    };
    const { requests, lines } = await twoSeconds();
    expect(requests).toBeGreaterThanOrEqual(2);
    expect(requests).toBeLessThanOrEqual(6);
    // 410 is the apiserver's "list again": the lists are fresh, the directory is not stale.
    expect(lines).toEqual([]);
    expect(directory?.stats()).toEqual({ addresses: 0, stale: false, failures: 0 });
  });
});
