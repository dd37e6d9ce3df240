import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CaBundlePublisher } from "./ca-bundle";
import { readWebhookEnv } from "./webhook-env";
import { type RunningWebhookServer, startWebhookServer } from "./webhook-server";

const dir = mkdtempSync(join(tmpdir(), "apisnoop-webhook-unit-"));
let cert = "";
let server: RunningWebhookServer;
const published: string[] = [];
let failPublish = false;
const publisher: CaBundlePublisher = {
  async ensure(namespace) {
    if (failPublish) throw new Error("forbidden");
    published.push(namespace);
  },
};

/** POSTs or GETs over TLS, trusting the test certificate; resolves status and body. */
function call(path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${server.url}${path}`,
      {
        method: body === undefined ? "GET" : "POST",
        ca: cert,
        headers: { "content-type": "application/json" },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8").on("data", (chunk: string) => {
          text += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    outgoing.on("error", reject);
    outgoing.end(body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body));
  });
}

const review = (annotations: Record<string, string>) => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "uid-1",
    kind: { group: "", version: "v1", kind: "Pod" },
    namespace: "addons",
    operation: "CREATE",
    object: { metadata: { annotations }, spec: { containers: [{ name: "c" }] } },
  },
});

beforeAll(async () => {
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"],
      ...[
        "-keyout",
        "tls.key",
        "-out",
        "tls.crt",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
    ],
    { cwd: dir, stdio: "ignore" },
  );
  cert = readFileSync(join(dir, "tls.crt"), "utf8");
  server = await startWebhookServer({
    host: "127.0.0.1",
    port: 0,
    cert,
    key: readFileSync(join(dir, "tls.key"), "utf8"),
    settings: { proxyHost: "proxy.apisnoop.svc", proxyPort: 8443, caBundleConfigMap: "apisnoop-ca-bundle" },
    publisher,
  });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("startWebhookServer", () => {
  it("answers /healthz and 404 elsewhere", async () => {
    expect(await call("/healthz")).toEqual({ status: 200, body: "ok" });
    expect((await call("/mutate/everything", {})).status).toBe(404);
  });

  it("patches an opted-in pod after publishing the CA bundle to its namespace", async () => {
    const answer = await call("/mutate/pod", review({ "apisnoop.io/snoop": "true" }));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).response).toMatchObject({
      uid: "uid-1",
      allowed: true,
      patchType: "JSONPatch",
    });
    expect(published).toEqual(["addons"]);
  });

  it("admits the pod untouched, with a warning, when the bundle cannot be published", async () => {
    failPublish = true;
    const answer = JSON.parse((await call("/mutate/namespace", review({}))).body);
    failPublish = false;
    expect(answer.response.patch).toBeUndefined();
    expect(answer.response.allowed).toBe(true);
    expect(answer.response.warnings).toEqual([expect.stringMatching(/not routed through the proxy/)]);
  });

  it("answers 400 to what is not an AdmissionReview", async () => {
    expect((await call("/mutate/pod", "{not json")).status).toBe(400);
    expect((await call("/mutate/pod", { kind: "Pod" })).status).toBe(400);
  });
});

describe("readWebhookEnv", () => {
  it("reads the chart's variables and the files they name", () => {
    const caFile = join(dir, "tls.crt");
    const env = readWebhookEnv({
      WEBHOOK_LISTEN: "0.0.0.0:9443",
      WEBHOOK_TLS_CERT: caFile,
      WEBHOOK_TLS_KEY: join(dir, "tls.key"),
      APISNOOP_PROXY_CA: caFile,
      APISNOOP_CLUSTER_CA: caFile,
      APISNOOP_PROXY_HOST: "apisnoop-proxy.apisnoop.svc",
      APISNOOP_PROXY_PORT: "8443",
    });
    expect(env).toMatchObject({
      host: "0.0.0.0",
      port: 9443,
      settings: {
        proxyHost: "apisnoop-proxy.apisnoop.svc",
        proxyPort: 8443,
        caBundleConfigMap: "apisnoop-ca-bundle",
      },
    });
    expect(env.caBundleCheckTtlMs).toBe(5000);
    expect(env.settings.redirect).toBeUndefined();
    expect(() => readWebhookEnv({ WEBHOOK_LISTEN: "nope" })).toThrow(/WEBHOOK_LISTEN/);
    expect(() => readWebhookEnv({ APISNOOP_CA_BUNDLE_CHECK_SECONDS: "soon" })).toThrow(
      /APISNOOP_CA_BUNDLE_CHECK_SECONDS/,
    );
    expect(() => readWebhookEnv({})).toThrow(/WEBHOOK_TLS_CERT/);
  });

  it("offers the redirect route with an image, for an IPv4 apiserver only, without stopping otherwise", () => {
    const caFile = join(dir, "tls.crt");
    const base = {
      WEBHOOK_TLS_CERT: caFile,
      WEBHOOK_TLS_KEY: join(dir, "tls.key"),
      APISNOOP_PROXY_CA: caFile,
      APISNOOP_CLUSTER_CA: caFile,
      APISNOOP_PROXY_HOST: "apisnoop-proxy.apisnoop.svc",
      APISNOOP_REDIRECT_IMAGE: "redirect:dev",
      APISNOOP_REDIRECT_PULL_POLICY: "Never",
    };
    expect(
      readWebhookEnv({ ...base, KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" })
        .settings.redirect,
    ).toEqual({ image: "redirect:dev", pullPolicy: "Never", apiserver: "10.96.0.1:443", proxy: null });
    expect(
      readWebhookEnv({ ...base, KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }).settings
        .redirect?.unavailable,
    ).toMatch(/fd00::1 is IPv6/);
    expect(readWebhookEnv(base).settings.redirect?.unavailable).toMatch(/no KUBERNETES_SERVICE_HOST/);
  });
});
