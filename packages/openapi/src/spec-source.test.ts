import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  getWithKubeconfig,
  liveSpecOf,
  loadSpec,
  MAX_SPEC_BYTES,
  releaseFromName,
  specSourceKind,
} from "./spec-source";
import { sharedSpecPath } from "./testing";

const gzipped = readFileSync(sharedSpecPath("1.30"));
const plain = gunzipSync(gzipped);

describe("loadSpec from files", () => {
  it("reads gzip and plain JSON specs alike", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "apisnoop-spec-"));
    const file = path.join(dir, "swagger.json");
    await writeFile(file, plain);
    const fromGzip = await loadSpec(sharedSpecPath("1.30"));
    const fromPlain = await loadSpec(file);
    expect(Object.keys(fromPlain.spec.paths)).toEqual(Object.keys(fromGzip.spec.paths));
    expect(fromGzip.release).toBe("1.30");
    expect(fromPlain.release).toBeNull();
  });

  it("says clearly what is wrong with a bad file", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "apisnoop-spec-"));
    await writeFile(path.join(dir, "broken.json"), "{ not json");
    await writeFile(path.join(dir, "broken.json.gz"), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    await writeFile(path.join(dir, "openapi3.json"), JSON.stringify({ openapi: "3.0.0", paths: {} }));
    await expect(loadSpec(path.join(dir, "missing.json"))).rejects.toThrow(/missing\.json: no such file$/);
    await expect(loadSpec(path.join(dir, "broken.json"))).rejects.toThrow(/broken\.json is not valid JSON/);
    await expect(loadSpec(path.join(dir, "broken.json.gz"))).rejects.toThrow(/is not valid gzip$/);
    await expect(loadSpec(path.join(dir, "openapi3.json"))).rejects.toThrow(/is not a swagger 2\.0 document/);
  });
});

describe("liveSpecOf", () => {
  it("takes the release from /version's major and minor, and none from a /version it cannot read", () => {
    const server = "https://10.0.0.1:6443";
    const version = (body: string) => liveSpecOf(plain, Buffer.from(body), server).release;
    expect(version('{"major":"1","minor":"34+","gitVersion":"v1.34.4-gke.1"}')).toBe("1.34");
    expect(version('{"major":1,"minor":"34"}')).toBeNull();
    expect(version("<html>")).toBeNull();
    const loaded = liveSpecOf(plain, null, server);
    expect(loaded.release).toBeNull();
    expect(loaded.origin).toBe(server);
    expect(Object.keys(loaded.spec.paths)).toEqual(Object.keys(JSON.parse(plain.toString("utf8")).paths));
    expect(() => liveSpecOf(Buffer.from("{}"), null, server)).toThrow(
      /https:\/\/10\.0\.0\.1:6443\/openapi\/v2/,
    );
  });

  it("refuses a gzip bomb for a spec instead of unzipping it all", () => {
    // Zeros compress about a thousandfold: the bound and a byte more is a few hundred KiB of gzip.
    const bomb = gzipSync(Buffer.alloc(MAX_SPEC_BYTES + 1), { level: 1 });
    expect(bomb.length).toBeLessThan(MAX_SPEC_BYTES / 100);
    expect(() => liveSpecOf(bomb, null, "https://10.0.0.1:6443")).toThrow(
      `spec https://10.0.0.1:6443/openapi/v2 is larger than ${MAX_SPEC_BYTES} bytes unzipped`,
    );
  });
});

describe("loadSpec live", () => {
  it("never quotes a kubeconfig with a syntax error: its lines hold the token", async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), "apisnoop-live-")), "config");
    await writeFile(file, "users:\n- name: a\n  user:\n    token: SUPERSECRETTOKEN\n   bad: [\n");
    const failure = await loadSpec("live", { kubeconfig: file }).catch((error: unknown) => error);
    expect((failure as Error).message).toMatch(/^cannot load kubeconfig .*\(line 5, column \d+\)$/);
    expect((failure as Error).message).not.toContain("SUPERSECRET");
  });
});

describe("getWithKubeconfig", () => {
  it("gives up on an apiserver that takes the connection and never answers", async () => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const server = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: "c", server, skipTLSVerify: true }],
      users: [{ name: "u" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    try {
      await expect(getWithKubeconfig(config, server, "/version", 300)).rejects.toThrow(
        `no answer from ${server} (GET /version) within 0.3 s`,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe("loadSpec from URLs", () => {
  let server: Server;
  let base: string;
  let requests = 0;

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests++;
      if (request.url === "/v1.30.0/api/openapi-spec/swagger.json") {
        response.writeHead(200, { "content-type": "application/json", "content-length": plain.length });
        response.end(plain);
      } else if (request.url === "/not-a-spec.json") {
        response.end("[]");
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("downloads with progress, caches by URL, and serves the cache afterwards", async () => {
    const cacheDir = await mkdtemp(path.join(tmpdir(), "apisnoop-cache-"));
    const url = `${base}/v1.30.0/api/openapi-spec/swagger.json`;
    const progress: [number, number | null][] = [];
    const first = await loadSpec(url, {
      cacheDir,
      onProgress: (received, total) => progress.push([received, total]),
    });
    expect(first.release).toBe("1.30");
    expect(Object.keys(first.spec.paths).length).toBeGreaterThan(400);
    expect(progress.at(-1)).toEqual([plain.length, plain.length]);
    const before = requests;
    const second = await loadSpec(url, { cacheDir });
    expect(requests).toBe(before);
    expect(Object.keys(second.spec.paths)).toEqual(Object.keys(first.spec.paths));
  });

  it("reports HTTP errors and refuses to cache what is not a spec", async () => {
    const cacheDir = await mkdtemp(path.join(tmpdir(), "apisnoop-cache-"));
    await expect(loadSpec(`${base}/missing.json`, { cacheDir })).rejects.toThrow(/HTTP 404$/);
    await expect(loadSpec(`${base}/not-a-spec.json`, { cacheDir })).rejects.toThrow(
      /not a swagger 2\.0 document/,
    );
    const before = requests;
    await expect(loadSpec(`${base}/not-a-spec.json`, { cacheDir })).rejects.toThrow();
    expect(requests).toBe(before + 1);
  });
});

describe("spec source names", () => {
  it("classifies sources and reads releases from names", () => {
    expect(specSourceKind("live")).toBe("live");
    expect(specSourceKind("https://example.com/swagger.json")).toBe("url");
    expect(specSourceKind("./v1.34.swagger.json.gz")).toBe("file");
    expect(releaseFromName("v1.34.swagger.json.gz")).toBe("1.34");
    expect(releaseFromName("1.36.0.json")).toBe("1.36");
    expect(releaseFromName("https://raw.example/kubernetes/v1.29.0/api/openapi-spec/swagger.json")).toBe(
      "1.29",
    );
    expect(releaseFromName("swagger.json")).toBeNull();
  });
});
