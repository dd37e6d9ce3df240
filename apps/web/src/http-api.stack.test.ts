import { request } from "node:http";
import { connect } from "node:net";
import { gunzipSync } from "node:zlib";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CoverageReport } from "./data/dashboard-data";
import { hitBatch, startTestStack, type TestStack } from "./testing/test-stack";

const kubectl = sourceFromUserAgent("kubectl/v1.34.0 (linux/amd64) kubernetes/abc");
const nginx: Source = {
  ...sourceFromUserAgent("nginx-ingress-controller/v1.10.0"),
  chart: "ingress-nginx-4.10.0",
  namespace: "ingress",
  pod: "ingress-nginx-controller-0",
  serviceAccount: "ingress-nginx",
  cluster: "ci-east",
  run: "pr-42",
};
const e2e: Source = {
  ...sourceFromUserAgent("e2e.test/v1.34.0 -- [sig-apps] Deployment should scale [Conformance]"),
  cluster: "ci-west",
  run: "main-7",
};
const alpha = sharedCatalog("1.34").endpoints.find((e) => e.level === "alpha")?.operationId as string;

describe("the HTTP API", () => {
  let stack: TestStack;
  const get = (path: string) => fetch(`${stack.url}${path}`);
  const coverage = async (query: string): Promise<CoverageReport> => {
    const response = await get(`/api/v1/coverage?${query}`);
    expect(response.status, await response.clone().text()).toBe(200);
    return (await response.json()) as CoverageReport;
  };
  const hitIds = (report: CoverageReport) =>
    report.endpoints
      .filter((e) => e.hits > 0)
      .map((e) => e.operationId)
      .sort();

  beforeAll(async () => {
    stack = await startTestStack("1.34,1.36");
    const now = hitBatch(
      [kubectl, nginx, e2e],
      [
        [0, "listCoreV1Node", 4],
        [0, "deleteCoreV1NamespacedPod", 1, "4xx"],
        [1, "listCoreV1NamespacedPod", 2],
        [1, alpha, 1],
        [2, "createAppsV1NamespacedDeployment", 3],
      ],
    );
    now.unknownCalls = [
      {
        source: 0,
        method: "GET",
        path: "/apis/example.com/v1/widgets",
        reason: "group not served by this spec",
        statusClass: "4xx",
        minute: now.hits[0]?.minute ?? 0,
        count: 2,
      },
    ];
    const earlier = hitBatch([kubectl], [[0, "readCoreV1Namespace", 7]]);
    for (const hit of earlier.hits) hit.minute -= 180; // three hours ago
    for (const batch of [now, earlier]) expect(await stack.ingest(batch)).toMatchObject({ ok: true });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it("reports every endpoint of the default release with its hits", async () => {
    const report = await coverage("");
    expect(report.release).toBe("1.36"); // the newest loaded; hits above were for 1.34
    const r134 = await coverage("release=1.34");
    expect(r134.endpoints).toHaveLength(859);
    expect(hitIds(r134)).toEqual(
      [
        "listCoreV1Node",
        "deleteCoreV1NamespacedPod",
        "listCoreV1NamespacedPod",
        alpha,
        "createAppsV1NamespacedDeployment",
        "readCoreV1Namespace",
      ].sort(),
    );
    expect(r134.totals).toMatchObject({ hits: 18, unknownCalls: 2, all: { total: 859, hit: 6 } });
    expect(r134.sourceCount).toBe(3);
    expect(hitIds(await coverage("release=1.36"))).toEqual([]);
  });

  it.each([
    ["chart=ingress-nginx", ["listCoreV1NamespacedPod", alpha]],
    ["chart=ingress-nginx-4.10.0", ["listCoreV1NamespacedPod", alpha]],
    ["chart=ingress", []],
    ["namespace=ingress", ["listCoreV1NamespacedPod", alpha]],
    ["pod=ingress-nginx-controller-0", ["listCoreV1NamespacedPod", alpha]],
    ["serviceAccount=ingress-nginx", ["listCoreV1NamespacedPod", alpha]],
    ["userAgent=kubectl", ["deleteCoreV1NamespacedPod", "listCoreV1Node", "readCoreV1Namespace"]],
    [
      "e2eTest=%5Bsig-apps%5D Deployment should scale %5BConformance%5D",
      ["createAppsV1NamespacedDeployment"],
    ],
    ["e2eTest=%5Bsig-apps%5D", []],
    ["from=1h&userAgent=kubectl", ["deleteCoreV1NamespacedPod", "listCoreV1Node"]],
    ["from=6h&userAgent=kubectl", ["deleteCoreV1NamespacedPod", "listCoreV1Node", "readCoreV1Namespace"]],
    ["from=6h&to=1h&userAgent=kubectl", ["readCoreV1Namespace"]],
    ["outcome=2xx&userAgent=kubectl", ["listCoreV1Node", "readCoreV1Namespace"]],
    ["level=alpha", [alpha]],
    ["cluster=ci-east", ["listCoreV1NamespacedPod", alpha]],
    ["run=main-7", ["createAppsV1NamespacedDeployment"]],
    ["run=main-7&cluster=ci-east", []],
    ["from=1h&run=pr-42", ["listCoreV1NamespacedPod", alpha]],
    ["run=pr-4", []],
  ])("filters by %s", async (query, expected) => {
    const report = await coverage(`release=1.34&${query}`);
    expect(hitIds(report)).toEqual([...expected].sort());
  });

  it("counts only the filtered level's endpoints", async () => {
    const report = await coverage("release=1.34&level=stable");
    const stable = sharedCatalog("1.34").endpoints.filter((e) => e.level === "stable").length;
    expect(report.endpoints).toHaveLength(stable);
    expect(report.totals.all.total).toBe(stable);
    expect(report.totals.byLevel.alpha).toEqual({ total: 0, hit: 0 });
  });

  it.each([
    ["release=1.34%3Bdrop", 'invalid filter release: a release is a name like "1.34"'],
    ["from=forever", expect.stringMatching(/^invalid filter from: "forever" is not a time/)],
    ["from=1h&to=2h", "invalid filter from: from must be before to"],
    ["outcome=5xx", "invalid filter outcome: outcome is one of any, 2xx"],
    ["level=gamma", "invalid filter level: level is one of stable, beta, alpha"],
    ["pod=a&pod=b", "invalid filter pod: given 2 times"],
  ])("answers 400 for %s, with the reason in JSON", async (query, error) => {
    for (const route of ["/api/v1/coverage", "/api/v1/coverage.csv", "/api/v1/badge.svg"]) {
      const response = await get(`${route}?${query}`);
      expect(response.status).toBe(400);
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(await response.json()).toEqual({ error });
    }
  });

  it("answers 404 for a release that is not loaded", async () => {
    const response = await get("/api/v1/coverage?release=1.20");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "release 1.20 is not loaded" });
  });

  it("serves the coverage as CSV, one row per endpoint", async () => {
    const response = await get("/api/v1/coverage.csv?release=1.34&userAgent=kubectl");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const lines = (await response.text()).trimEnd().split("\r\n");
    expect(lines[0]).toBe(
      "operationId,method,path,level,category,group,version,kind,deprecated,conformanceEligible,hits,upstreamTested",
    );
    expect(lines).toHaveLength(860);
    expect(lines).toContain("listCoreV1Node,GET,/api/v1/nodes,stable,core,,v1,Node,false,true,4,true");
  });

  it("draws a badge of the selection's coverage", async () => {
    const response = await get("/api/v1/badge.svg?release=1.34");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/svg+xml; charset=utf-8");
    const svg = await response.text();
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain("k8s API coverage: 0.7% (6/859)");
    const stable = await (await get("/api/v1/badge.svg?release=1.34&metric=stable&label=my%20chart")).text();
    expect(stable).toContain("my chart: 0.8% (5/650)");
    const eligible = await (
      await get("/api/v1/badge.svg?release=1.34&metric=eligible&chart=ingress-nginx")
    ).text();
    expect(eligible).toMatch(/k8s API coverage: 0\.\d% \(1\/\d+\)/);
    const bad = await get("/api/v1/badge.svg?metric=most");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: "metric must be one of all, stable, eligible, not 'most'" });
  });

  it("gzips a body the client accepts compressed, and sends it plain otherwise", async () => {
    const plain = await rawGet("/api/v1/coverage?release=1.34", "identity");
    const zipped = await rawGet("/api/v1/coverage?release=1.34", "gzip, deflate");
    expect([plain.encoding, zipped.encoding]).toEqual([undefined, "gzip"]);
    expect(zipped.body.length).toBeLessThan(plain.body.length / 4);
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
    expect(JSON.parse(plain.body.toString()).release).toBe("1.34");
  });

  it("answers JSON errors for a path outside the API and for a method that writes", async () => {
    const missing = await get("/api/v1/nope");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "no such API: /api/v1/nope (see the README's HTTP API)" });
    const post = await fetch(`${stack.url}/api/v1/coverage`, { method: "POST", body: "{}" });
    expect([post.status, post.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
    expect(await post.json()).toEqual({ error: "POST is not allowed: the HTTP API only reads" });
    const head = await fetch(`${stack.url}/api/v1/coverage.csv?release=1.34`, { method: "HEAD" });
    expect([head.status, await head.text()]).toEqual([200, ""]);
  });

  it("survives a request target that is no URL, and goes on answering", async () => {
    const { port } = new URL(stack.url);
    const status = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () =>
        socket.write("GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n"),
      );
      socket.once("data", (data) => {
        resolve(String(data).split("\r\n")[0] ?? "");
        socket.destroy();
      });
      socket.once("error", reject);
    });
    expect(status).toMatch(/^HTTP\/1\.1 \d{3} /); // Next answers it (a redirect, as it happens)
    expect((await get("/api/v1/coverage?release=1.34")).status).toBe(200);
  });

  /** A GET with exactly this Accept-Encoding (fetch would add and undo its own), body as sent. */
  function rawGet(path: string, acceptEncoding: string): Promise<{ encoding?: string; body: Buffer }> {
    return new Promise((resolve, reject) => {
      request(`${stack.url}${path}`, { headers: { "accept-encoding": acceptEncoding } }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ encoding: response.headers["content-encoding"], body: Buffer.concat(chunks) }),
        );
      })
        .on("error", reject)
        .end();
    });
  }
});
