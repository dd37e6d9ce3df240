/**
 * `npm run bench:import`: audit events per second through the import (read, parse, match, fold into
 * rollups), against a baseline measured in the same run: reading and JSON-parsing the same file alone.
 * Target: ≥ 50,000 events/s. The events are realistic audit.k8s.io/v1 lines (~1 KiB, Metadata level).
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { compileMatcher, type Endpoint } from "@apisnoop/openapi";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { instantiateTemplate, seededRandom } from "../../openapi/src/url-corpus";
import { importAuditLogs } from "../src/import-audit";
import { openLog, readJsonObjects } from "../src/json-objects";

const EVENTS = 300_000;
const VERBS: Record<string, string> = {
  GET: "get",
  POST: "create",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
};

async function writeLog(file: string, endpoints: Endpoint[]): Promise<void> {
  const random = seededRandom(8);
  const out = createWriteStream(file);
  const start = Date.UTC(2026, 10, 28);
  for (let i = 0; i < EVENTS; i++) {
    // Most traffic is a few reads, lists and lease renewals; the rest is spread over every endpoint.
    const endpoint = (
      random() < 0.7
        ? (COMMON[Math.floor(random() * COMMON.length)] as Endpoint)
        : endpoints[Math.floor(random() * endpoints.length)]
    ) as Endpoint;
    const uri = instantiateTemplate(endpoint.path, random, 0.01);
    const line = JSON.stringify({
      kind: "Event",
      apiVersion: "audit.k8s.io/v1",
      level: "Metadata",
      auditID: `8adac407-313f-4ed1-a03d-${String(i).padStart(12, "0")}`,
      stage: "ResponseComplete",
      requestURI: uri,
      verb: VERBS[endpoint.method] ?? endpoint.method.toLowerCase(),
      user: {
        username: `system:serviceaccount:ns-${i % 40}:sa`,
        uid: "3b8b1e2c",
        groups: ["system:serviceaccounts", "system:authenticated"],
      },
      sourceIPs: ["10.0.0.12"],
      // e2e tests run one after another (~600 calls each); operators call all the time.
      userAgent:
        i % 3 === 0
          ? `e2e.test/v1.34.4 (linux/amd64) kubernetes/abc -- [sig-apps] test ${Math.floor(i / 600)} [Conformance]`
          : `operator-${i % 20}/v1.2.3 (linux/amd64)`,
      objectRef: { resource: "pods", namespace: `ns-${i % 40}`, name: `web-${i}`, apiVersion: "v1" },
      responseStatus: { metadata: {}, code: 200 },
      requestReceivedTimestamp: new Date(start + i * 10).toISOString(),
      stageTimestamp: new Date(start + i * 10 + 3).toISOString(),
      annotations: {
        "authorization.k8s.io/decision": "allow",
        "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding",
      },
    });
    if (!out.write(`${line}\n`)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
}

const catalog = sharedCatalog("1.34");
const COMMON = [
  "readCoreV1NamespacedPod",
  "listCoreV1NamespacedPod",
  "readCoreV1NamespacedConfigMap",
  "readCoreV1NamespacedSecret",
  "readCoordinationV1NamespacedLease",
  "replaceCoordinationV1NamespacedLease",
  "createCoreV1NamespacedEvent",
].map((id) => catalog.byOperationId.get(id) as Endpoint);
const dir = await mkdtemp(path.join(tmpdir(), "apisnoop-bench-import-"));
const file = path.join(dir, "audit.log");
await writeLog(file, catalog.endpoints);
const size = (await stat(file)).size;

// Node's readline + JSON.parse: what reading costs without the reader's limits and recovery.
let t = performance.now();
let plain = 0;
for await (const line of createInterface({ input: openLog(file), crlfDelay: Number.POSITIVE_INFINITY })) {
  if (line !== "") {
    JSON.parse(line);
    plain++;
  }
}
const readlineSeconds = (performance.now() - t) / 1000;

t = performance.now();
let parsed = 0;
for await (const record of readJsonObjects(openLog(file))) if ("value" in record) parsed++;
const baselineSeconds = (performance.now() - t) / 1000;

t = performance.now();
let rows = 0;
const summary = await importAuditLogs([file], {
  matcher: compileMatcher(catalog),
  release: "1.34",
  onBatch: async (batch) => {
    rows += batch.hits.length + batch.unknownCalls.length;
  },
});
const importSeconds = (performance.now() - t) / 1000;
await rm(dir, { recursive: true });

const rate = EVENTS / importSeconds;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(`audit log: ${fmt(EVENTS)} events, ${(size / 1048576).toFixed(0)} MiB`);
console.log(`readline + JSON.parse: ${fmt(plain / readlineSeconds)} events/s`);
console.log(
  `baseline (readJsonObjects: read + JSON.parse only): ${fmt(parsed / baselineSeconds)} events/s (${(parsed / baselineSeconds / (plain / readlineSeconds)).toFixed(2)} of readline)`,
);
console.log(
  `import (read, parse, match, rollup): ${fmt(rate)} events/s -> ${fmt(rows)} rollup rows in ${summary.batches} batches (target 50,000: ${rate >= 50_000 ? "met" : "NOT met"})`,
);
console.log(`ratio import/baseline: ${(rate / (parsed / baselineSeconds)).toFixed(2)}`);
console.log(
  `hits ${fmt(summary.hits)}, unknown ${fmt(summary.unknownCalls)}, malformed ${summary.malformedCount}`,
);
