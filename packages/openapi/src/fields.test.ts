import { describe, expect, it } from "vitest";
import { emptyFieldReport, FieldSchema } from "./fields";
import { sharedCatalog } from "./testing";
import { seededRandom } from "./url-corpus";

const schema = new FieldSchema(sharedCatalog("1.34").definitions);
const DEPLOYMENT = "#/definitions/io.k8s.api.apps.v1.Deployment";

const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", labels: { app: "web" }, annotations: { "a.io/b": "c" } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: "web" } },
    strategy: { rollingUpdate: { maxSurge: "25%", maxUnavailable: 1 } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: {
        containers: [
          {
            name: "web",
            image: "nginx:1.27",
            args: ["--port", "8080"],
            ports: [{ containerPort: 8080 }],
            resources: { limits: { cpu: "500m", memory: "128Mi" } },
            livenessProbe: { httpGet: { path: "/healthz", port: "http" } },
          },
        ],
      },
    },
  },
};

describe("FieldSchema.walk", () => {
  it("names every field of a Deployment by its path from the root definition", () => {
    const report = schema.walk(DEPLOYMENT, deployment, emptyFieldReport());
    expect(report.unknown).toEqual(new Set());
    expect(report.truncated).toBe(false);
    for (const field of [
      "apiVersion",
      "metadata.name",
      "metadata.labels",
      "metadata.labels{}",
      "spec.replicas",
      "spec.selector.matchLabels{}",
      "spec.strategy.rollingUpdate.maxSurge",
      "spec.template.spec.containers",
      "spec.template.spec.containers[]",
      "spec.template.spec.containers[].image",
      "spec.template.spec.containers[].args",
      "spec.template.spec.containers[].ports[].containerPort",
      "spec.template.spec.containers[].resources.limits{}",
      "spec.template.spec.containers[].livenessProbe.httpGet.port",
    ]) {
      expect(report.fields).toContain(`io.k8s.api.apps.v1.Deployment:${field}`);
    }
    expect([...report.fields].some((f) => f.includes("nginx") || f.includes("a.io/b"))).toBe(false);
  });

  it("reports fields the schema does not have as unknown, and does not descend into them", () => {
    const typo = structuredClone(deployment);
    Object.assign(typo.spec.template.spec.containers[0] as object, { imagePullPolcy: "Always" });
    Object.assign(typo.spec, { replicaz: { nested: true } });
    const report = schema.walk(DEPLOYMENT, typo, emptyFieldReport());
    expect([...report.unknown].sort()).toEqual([
      "io.k8s.api.apps.v1.Deployment:spec.replicaz",
      "io.k8s.api.apps.v1.Deployment:spec.template.spec.containers[].imagePullPolcy",
    ]);
  });

  it("treats preserve-unknown-fields and free-form types as known", () => {
    const crd = {
      spec: {
        group: "example.com",
        versions: [
          {
            name: "v1",
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: { spec: { type: "object", default: { any: 1 } } },
              },
            },
          },
        ],
      },
    };
    const report = schema.walk(
      "#/definitions/io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
      crd,
      emptyFieldReport(),
    );
    expect(report.unknown).toEqual(new Set());
    expect(report.fields).toContain(
      "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition:spec.versions[].schema.openAPIV3Schema.properties{}.default",
    );
    const preserving = new FieldSchema({
      Widget: {
        type: "object",
        properties: { spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      },
    });
    const widget = preserving.walk(
      "#/definitions/Widget",
      { spec: { anything: { goes: 1 } }, extra: 1 },
      emptyFieldReport(),
    );
    expect([...widget.fields]).toEqual(["Widget:spec"]);
    expect([...widget.unknown]).toEqual(["Widget:extra"]);
    const event = { metadata: { name: "x" }, involvedObject: { kind: "Pod" }, series: { count: 2 } };
    expect(schema.walk("#/definitions/io.k8s.api.core.v1.Event", event, emptyFieldReport()).unknown).toEqual(
      new Set(),
    );
    const managed = {
      metadata: { managedFields: [{ manager: "kubectl", fieldsV1: { "f:data": { "f:key": {} } } }] },
    };
    const report2 = schema.walk("#/definitions/io.k8s.api.core.v1.ConfigMap", managed, emptyFieldReport());
    expect(report2.unknown).toEqual(new Set());
    expect(report2.fields).toContain("io.k8s.api.core.v1.ConfigMap:metadata.managedFields[].fieldsV1");
  });

  it("walks list items as their own kind", () => {
    const listRef = "#/definitions/io.k8s.api.core.v1.PodList";
    expect(schema.listItemRef(listRef)).toBe("#/definitions/io.k8s.api.core.v1.Pod");
    expect(schema.listItemRef("#/definitions/io.k8s.api.core.v1.Pod")).toBeNull();
  });

  it("skips strategic-merge-patch directives only when asked", () => {
    const patch = {
      spec: { $retainKeys: ["a"], template: { spec: { "$setElementOrder/containers": [{ name: "web" }] } } },
    };
    const asPatch = schema.walk(DEPLOYMENT, patch, emptyFieldReport(), { strategicMergePatch: true });
    expect(asPatch.unknown).toEqual(new Set());
    expect(schema.walk(DEPLOYMENT, patch, emptyFieldReport()).unknown.size).toBe(2);
  });
});

describe("FieldSchema.walkJsonPatch", () => {
  it("follows each operation's path through the schema and walks its value", () => {
    const report = schema.walkJsonPatch(
      DEPLOYMENT,
      [
        { op: "replace", path: "/spec/replicas", value: 3 },
        { op: "add", path: "/metadata/labels/app.kubernetes.io~1name", value: "web" },
        { op: "add", path: "/spec/template/spec/containers/0/env", value: [{ name: "A", value: "b" }] },
        { op: "remove", path: "/spec/paused" },
        { op: "replace", path: "/spec/replikas", value: 1 },
        { op: "move", from: "/spec/minReadySeconds", path: "/spec/progressDeadlineSeconds" },
        "garbage",
      ],
      emptyFieldReport(),
    );
    const d = "io.k8s.api.apps.v1.Deployment:";
    for (const field of [
      "spec.replicas",
      "metadata.labels{}",
      "spec.template.spec.containers[]",
      "spec.template.spec.containers[].env",
      "spec.template.spec.containers[].env[].name",
      "spec.paused",
      "spec.minReadySeconds",
      "spec.progressDeadlineSeconds",
    ]) {
      expect(report.fields).toContain(d + field);
    }
    expect([...report.unknown]).toEqual([`${d}spec.replikas`]);
  });
});

describe("FieldSchema under random and hostile bodies", () => {
  /** Mutations of realistic bodies plus random JSON values, deep nesting and wide objects. */
  function randomValue(random: () => number, depth: number): unknown {
    const roll = random();
    if (depth > 6 || roll < 0.3) return [null, 1, "x", true, 2.5][Math.floor(random() * 5)];
    if (roll < 0.55)
      return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
    const keys = [
      "spec",
      "metadata",
      "name",
      "items",
      "containers",
      "template",
      "labels",
      "x",
      "$patch",
      "0",
    ];
    const object: Record<string, unknown> = {};
    for (let i = Math.floor(random() * 5); i > 0; i--) {
      object[keys[Math.floor(random() * keys.length)] as string] = randomValue(random, depth + 1);
    }
    return object;
  }

  function mutate(value: unknown, random: () => number): unknown {
    if (value === null || typeof value !== "object") return random() < 0.2 ? randomValue(random, 3) : value;
    if (Array.isArray(value)) return value.map((v) => mutate(v, random));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (random() < 0.05) continue;
      out[random() < 0.05 ? `${k}x` : k] = random() < 0.1 ? randomValue(random, 4) : mutate(v, random);
    }
    return out;
  }

  it("survives 100,000 random and mutated bodies within its limits", () => {
    const random = seededRandom(7);
    const refs = [
      DEPLOYMENT,
      "#/definitions/io.k8s.api.core.v1.Pod",
      "#/definitions/io.k8s.api.core.v1.ConfigMap",
    ];
    let fields = 0;
    for (let i = 0; i < 100_000; i++) {
      const body = i % 2 === 0 ? mutate(deployment, random) : randomValue(random, 0);
      const ref = refs[i % refs.length] as string;
      const report = schema.walk(ref, body, emptyFieldReport(), { strategicMergePatch: i % 3 === 0 });
      if (i % 5 === 0) schema.walkJsonPatch(ref, [{ op: "add", path: `/spec/${i}/x`, value: body }], report);
      expect(report.fields.size + report.unknown.size).toBeLessThanOrEqual(10_000);
      fields += report.fields.size;
    }
    expect(fields).toBeGreaterThan(100_000);
  });

  it("reports prototype member names as unknown, not as fields (found by fields.fuzz.test.ts)", () => {
    const body = JSON.parse(
      '{"__proto__": {"a": 1}, "constructor": 1, "spec": {"toString": {}, "replicas": 1}}',
    );
    const report = schema.walk(DEPLOYMENT, body, emptyFieldReport());
    const d = "io.k8s.api.apps.v1.Deployment:";
    expect([...report.unknown].sort()).toEqual([`${d}__proto__`, `${d}constructor`, `${d}spec.toString`]);
    expect([...report.fields].sort()).toEqual([`${d}spec`, `${d}spec.replicas`]);
    const patch = [{ op: "add", path: "/spec/constructor/name", value: 1 }];
    expect([...schema.walkJsonPatch(DEPLOYMENT, patch, emptyFieldReport()).unknown]).toEqual([
      `${d}spec.constructor`,
    ]);
    expect(schema.walk("#/definitions/constructor", {}, emptyFieldReport())).toEqual(emptyFieldReport());
  });

  it("bounds the work of bodies whose parts are shared, as YAML aliases load (found by fields.fuzz.test.ts)", () => {
    // 2^40 paths through 40 objects; each level is the same object twice, so no new field appears.
    let shared: unknown = { type: "string" };
    for (let i = 0; i < 40; i++) shared = { properties: { p: shared, q: shared } };
    const crd = { spec: { versions: [{ name: "v1", schema: { openAPIV3Schema: shared } }] } };
    const small = new FieldSchema(sharedCatalog("1.34").definitions, {
      maxDepth: 64,
      maxFields: 10_000,
      maxVisits: 10_000,
    });
    const report = small.walk(
      "#/definitions/io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
      crd,
      emptyFieldReport(),
    );
    expect(report.truncated).toBe(true);
    expect(report.fields).toContain(
      "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition:spec.versions[].schema.openAPIV3Schema.properties{}.properties{}",
    );
  });

  it("counts the unknown paths of a JSON patch within maxFields", () => {
    const small = new FieldSchema(sharedCatalog("1.34").definitions, { maxDepth: 64, maxFields: 100 });
    const patch = Array.from({ length: 1000 }, (_, i) => ({ op: "add", path: `/spec/x${i}`, value: 1 }));
    const report = small.walkJsonPatch(DEPLOYMENT, patch, emptyFieldReport());
    expect(report.fields.size + report.unknown.size).toBeLessThanOrEqual(100);
    expect(report.truncated).toBe(true);
  });

  it("stops at its depth and size limits", () => {
    let deep: Record<string, unknown> = { name: "x" };
    for (let i = 0; i < 10_000; i++) deep = { spec: { template: deep } };
    const small = new FieldSchema(sharedCatalog("1.34").definitions, { maxDepth: 64, maxFields: 100 });
    const report = small.walk(DEPLOYMENT, deep, emptyFieldReport());
    expect(report.fields.size).toBeLessThanOrEqual(100);
    const wide = {
      metadata: { labels: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, "v"])) },
    };
    expect(small.walk(DEPLOYMENT, wide, emptyFieldReport()).fields.size).toBe(3);
    const huge = {
      spec: { template: { spec: { containers: Array.from({ length: 5000 }, () => ({ foo: 1, bar: 2 })) } } },
    };
    const hugeReport = small.walk(DEPLOYMENT, huge, emptyFieldReport());
    expect(hugeReport.unknown.size).toBe(2);
  });
});

describe("FieldSchema.schemaFields", () => {
  it("lists every field a body of the definition could carry, as walk names them", () => {
    const fields = schema.schemaFields("io.k8s.api.core.v1.ConfigMap");
    expect(fields.filter((field) => !field.includes(":metadata."))).toEqual([
      "io.k8s.api.core.v1.ConfigMap:apiVersion",
      "io.k8s.api.core.v1.ConfigMap:binaryData",
      "io.k8s.api.core.v1.ConfigMap:binaryData{}",
      "io.k8s.api.core.v1.ConfigMap:data",
      "io.k8s.api.core.v1.ConfigMap:data{}",
      "io.k8s.api.core.v1.ConfigMap:immutable",
      "io.k8s.api.core.v1.ConfigMap:kind",
      "io.k8s.api.core.v1.ConfigMap:metadata",
    ]);
    expect(fields).toContain("io.k8s.api.core.v1.ConfigMap:metadata.ownerReferences[].uid");
    expect(fields).toContain("io.k8s.api.core.v1.ConfigMap:metadata.labels{}");
    // Items of a scalar array are never named by walk.
    expect(fields).toContain("io.k8s.api.core.v1.ConfigMap:metadata.finalizers");
    expect(fields).not.toContain("io.k8s.api.core.v1.ConfigMap:metadata.finalizers[]");
    expect(new Set(fields).size).toBe(fields.length);
  });

  it("holds every field walk reports of a real Deployment", () => {
    const report = schema.walk(DEPLOYMENT, deployment, emptyFieldReport());
    const fields = new Set(schema.schemaFields(DEPLOYMENT));
    expect([...report.fields].filter((field) => !fields.has(field))).toEqual([]);
    expect(fields.size).toBeGreaterThan(1000);
  });

  it("enters a recursive definition once", () => {
    const crd = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition";
    const fields = schema.schemaFields(crd);
    const props = `${crd}:spec.versions[].schema.openAPIV3Schema.properties`;
    expect(fields).toContain(`${props}{}`);
    expect(fields.some((field) => field.startsWith(`${props}{}.`))).toBe(false);
    expect(fields).toContain(`${crd}:spec.versions[].schema.openAPIV3Schema.type`);
  });

  it("finishes for every request body of every shared release", () => {
    for (const release of ["1.28", "1.36"]) {
      const catalog = sharedCatalog(release);
      const releaseSchema = new FieldSchema(catalog.definitions);
      let total = 0;
      for (const endpoint of catalog.endpoints) {
        if (endpoint.requestBodyRef) total += releaseSchema.schemaFields(endpoint.requestBodyRef).length;
      }
      expect(total).toBeGreaterThan(10_000);
    }
  });
});
