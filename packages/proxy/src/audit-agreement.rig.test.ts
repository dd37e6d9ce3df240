/**
 * Agreement with the apiserver's own record: a scripted workload of more than 40 distinct endpoints, sent
 * through the proxy with the rig's `workload` credential. The multiset of (method, path, operationId)
 * in hits.jsonl must equal the one derived from the rig's audit log for user "workload" (verb and
 * requestURI through the same matcher). The proxy's own calls (spec, CRD watch) use the admin credential,
 * so they are outside both sides by construction.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuditEvent, readAuditEvents } from "../../../tools/rig/audit";
import { readRigState, rigToken } from "../../../tools/rig/rig";
import { UNSCHEDULED } from "../../../tools/rig/test-objects";
import { type RigProxy, startRigProxy } from "../../../tools/rig-proxy/rig-proxy";

let rig: RigProxy;
const RUN = Date.now().toString(36);
type Protocol = "h1" | "h2";
/** Each protocol's workload has its own namespace. */
const namespaceFor = (protocol: Protocol) => `proxy-audit-${RUN}-${protocol}`;
/** Unique per run and protocol: the audit log keeps earlier runs' events of the same user. */
const userAgentFor = (protocol: Protocol) => `apisnoop-audit-agreement/${RUN}-${protocol}`;

beforeAll(async () => {
  rig = await startRigProxy("admin");
});
afterAll(async () => {
  session?.close();
  await rig?.close();
});

/** Requests the proxy took from `protocol` clients and sent upstream over HTTP/2. */
function protocolCount(protocol: Protocol): number {
  const line = new RegExp(
    `apisnoop_proxy_requests_by_protocol_total\\{client="${protocol}",upstream="h2"\\} (\\d+)`,
  );
  return Number(line.exec(rig.proxy.metrics.render())?.[1] ?? 0);
}

/** One request through the proxy as the workload user; resolves with the status, never rejects on HTTP errors. */
function send(
  protocol: Protocol,
  method: string,
  url: string,
  body?: unknown,
  contentType = "application/json",
): Promise<number> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = {
    authorization: `Bearer ${rigToken("workload")}`,
    "user-agent": userAgentFor(protocol),
    accept: "application/json",
    ...(payload ? { "content-type": contentType, "content-length": payload.length } : {}),
  };
  if (protocol === "h2") {
    return new Promise((resolve, reject) => {
      const stream = http2Session().request(
        { ":method": method, ":path": url, ...headers },
        { endStream: payload === undefined },
      );
      let status = 0;
      stream.on("response", (answer) => {
        status = Number(answer[":status"]);
      });
      stream.resume();
      stream.on("end", () => resolve(status));
      stream.on("error", reject);
      if (payload) stream.end(payload);
    });
  }
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(url, rig.proxy.url),
      { method, ca: rig.proxy.ca.certificatePem, headers },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

let session: http2.ClientHttp2Session | null = null;
/** One HTTP/2 connection to the proxy for the whole workload, as client-go keeps one. */
function http2Session(): http2.ClientHttp2Session {
  session ??= http2.connect(rig.proxy.url, { ca: rig.proxy.ca.certificatePem });
  return session;
}

const cm = (ns: string, name: string, data: Record<string, string> = { a: "1" }) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns },
  data,
});

/** The workload: method, URL and body of each call, in order. */
function workload(ns: string): [string, string, unknown?, string?][] {
  const n = `/api/v1/namespaces/${ns}`;
  const apps = `/apis/apps/v1/namespaces/${ns}`;
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { schedulerName: UNSCHEDULED, containers: [{ name: "c", image: "pause" }] },
      },
    },
  };
  return [
    ["GET", "/version"],
    ["GET", "/api"],
    ["GET", "/apis"],
    ["GET", "/api/v1"],
    ["GET", "/apis/apps/v1"],
    ["POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }],
    ["GET", n],
    ["GET", "/api/v1/namespaces?limit=5"],
    ["POST", `${n}/configmaps`, cm(ns, "one")],
    ["POST", `${n}/configmaps?dryRun=All`, cm(ns, "dry")],
    ["GET", `${n}/configmaps/one`],
    ["PUT", `${n}/configmaps/one`, cm(ns, "one", { a: "2" })],
    ["PATCH", `${n}/configmaps/one`, { data: { b: "3" } }, "application/merge-patch+json"],
    [
      "PATCH",
      `${n}/configmaps/one?fieldManager=audit-test`,
      cm(ns, "one", { c: "4" }),
      "application/apply-patch+yaml",
    ],
    ["GET", `${n}/configmaps?labelSelector=x%3Dy`],
    ["GET", `${n}/configmaps?watch=true&timeoutSeconds=1`],
    ["GET", "/api/v1/configmaps?limit=1"],
    ["DELETE", `${n}/configmaps/one`],
    ["POST", `${n}/configmaps`, cm(ns, "two")],
    ["DELETE", `${n}/configmaps`],
    [
      "POST",
      `${n}/secrets`,
      { apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, stringData: { k: "v" } },
    ],
    ["GET", `${n}/secrets`],
    ["GET", "/api/v1/secrets?limit=1"],
    ["POST", `${n}/serviceaccounts`, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "sa" } }],
    ["GET", `${n}/serviceaccounts/sa`],
    ["GET", `${n}/serviceaccounts`],
    [
      "POST",
      `${n}/services`,
      { apiVersion: "v1", kind: "Service", metadata: { name: "svc" }, spec: { ports: [{ port: 80 }] } },
    ],
    ["GET", `${n}/services/svc`],
    ["GET", `${n}/services`],
    ["GET", "/api/v1/services"],
    ["GET", `${n}/pods`],
    ["GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dnone"],
    ["GET", `${n}/pods/missing`],
    ["GET", `${n}/endpoints`],
    ["GET", `${n}/events`],
    ["GET", "/api/v1/nodes"],
    ["GET", `${n}/limitranges`],
    ["GET", `${n}/resourcequotas`],
    ["GET", `${n}/persistentvolumeclaims`],
    ["GET", "/api/v1/persistentvolumes"],
    ["POST", `${apps}/deployments`, deployment],
    ["GET", `${apps}/deployments/web`],
    ["GET", `${apps}/deployments/web/scale`],
    ["PATCH", `${apps}/deployments/web/scale`, { spec: { replicas: 2 } }, "application/merge-patch+json"],
    ["GET", `${apps}/deployments/web/status`],
    ["GET", `${apps}/deployments`],
    ["GET", "/apis/apps/v1/deployments"],
    ["GET", `${apps}/statefulsets`],
    ["GET", `${apps}/daemonsets`],
    ["GET", `${apps}/replicasets`],
    ["DELETE", `${apps}/deployments/web`],
    ["GET", `/apis/batch/v1/namespaces/${ns}/jobs`],
    ["GET", `/apis/batch/v1/namespaces/${ns}/cronjobs`],
    [
      "POST",
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "r" }, rules: [] },
    ],
    ["GET", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/r`],
    ["GET", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`],
    ["GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles?limit=2"],
    ["GET", `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`],
    ["GET", "/apis/storage.k8s.io/v1/storageclasses"],
    ["GET", `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`],
    ["GET", `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`],
    ["GET", `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`],
    ["GET", `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`],
    ["GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"],
    ["GET", "/apis/nope.example.com/v1/things"],
    ["DELETE", n],
  ];
}

const VERB_METHOD: Record<string, string> = {
  get: "GET",
  list: "GET",
  watch: "GET",
  create: "POST",
  update: "PUT",
  patch: "PATCH",
  delete: "DELETE",
  deletecollection: "DELETE",
};

function tally(triples: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of triples) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

describe("hits.jsonl agrees with the apiserver's audit log", () => {
  it.each([
    ["HTTP/1.1", "h1"],
    ["HTTP/2", "h2"],
  ] as const)(
    "has the same multiset of (method, path, operationId) for a 40+ endpoint workload over %s",
    async (_, protocol) => {
      const USER_AGENT = userAgentFor(protocol);
      const calls = workload(namespaceFor(protocol));
      const before = protocolCount(protocol);
      for (const [method, url, body, contentType] of calls)
        await send(protocol, method, url, body, contentType);
      // Every call went over the client protocol asked for, and upstream over HTTP/2.
      expect(protocolCount(protocol) - before).toBe(calls.length);

      const ours = async () => (await rig.hits()).filter((hit) => hit.userAgent === USER_AGENT);
      // Each hit's line is written one turn after its client got the last byte.
      await expect.poll(async () => (await ours()).length).toBe(calls.length);
      const hits = await ours();
      const fromHits = hits.map((hit) => `${hit.method} ${hit.path} ${hit.operationId}`);
      const distinct = new Set(hits.map((hit) => hit.operationId).filter(Boolean));
      expect(distinct.size).toBeGreaterThanOrEqual(40);

      const matcher = rig.proxy.spec.current()?.matcher;
      if (!matcher) throw new Error("no spec loaded");
      const complete = (events: AuditEvent[]) =>
        events.filter(
          (e) =>
            e.user.username === "workload" && e.stage === "ResponseComplete" && e.userAgent === USER_AGENT,
        );
      let audited: AuditEvent[] = [];
      for (let i = 0; i < 100 && audited.length < calls.length; i++) {
        audited = complete(readAuditEvents(readRigState().auditLog));
        if (audited.length < calls.length) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const fromAudit = audited.map((event) => {
        const method = VERB_METHOD[event.verb] ?? event.verb.toUpperCase();
        const pathOnly = event.requestURI.split("?")[0];
        return `${method} ${pathOnly} ${matcher.match(method, event.requestURI).operationId}`;
      });
      expect(tally(fromHits)).toEqual(tally(fromAudit));
    },
  );

  it("keeps the workload's and the proxy's tokens out of hits.jsonl, the log and the CA directory", () => {
    const files = [rig.hitsPath, rig.logPath];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const file = path.join(dir, name);
        if (statSync(file).isDirectory()) walk(file);
        else files.push(file);
      }
    };
    walk(path.join(rig.dir, "ca"));
    for (const token of [rigToken("workload"), rigToken("admin")]) {
      for (const file of files) expect(readFileSync(file, "utf8").includes(token), file).toBe(false);
    }
  });
});
