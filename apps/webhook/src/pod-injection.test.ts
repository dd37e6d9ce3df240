import { describe, expect, it } from "vitest";
import { reviewAdmission } from "./admission-review";
import {
  type InjectionSettings,
  type PodLike,
  podInjectionPatch,
  shouldSnoop,
  skipReason,
} from "./pod-injection";

const settings: InjectionSettings = {
  proxyHost: "apisnoop-proxy.apisnoop.svc",
  proxyPort: 8443,
  caBundleConfigMap: "apisnoop-ca-bundle",
};

/** A Pod as the apiserver hands it to webhooks: the ServiceAccount plugin has added its projected volume. */
function fakePod(
  annotations?: Record<string, string>,
  env?: Array<{ name: string; value: string }>,
): PodLike {
  return {
    metadata: { name: "addon", namespace: "addons", ...(annotations ? { annotations } : {}) },
    spec: {
      initContainers: [{ name: "init" }],
      containers: [{ name: "manager", ...(env ? { env } : {}) }],
      volumes: [
        {
          name: "kube-api-access-abcde",
          projected: {
            sources: [
              { configMap: undefined },
              { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
            ],
          },
        },
      ],
    },
  };
}

function fakeReview(pod: PodLike, overrides: Record<string, unknown> = {}) {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "", version: "v1", kind: "Pod" },
      namespace: "addons",
      operation: "CREATE",
      object: pod,
      ...overrides,
    },
  };
}

function decodePatch(patch: string | undefined): unknown {
  return JSON.parse(Buffer.from(patch ?? "", "base64").toString("utf8"));
}

describe("shouldSnoop", () => {
  it("takes annotated pods anywhere, every pod of a labelled namespace unless it opts out", () => {
    expect(shouldSnoop(fakePod({ "apisnoop.io/snoop": "true" }), "pod")).toBe(true);
    expect(shouldSnoop(fakePod(), "pod")).toBe(false);
    expect(shouldSnoop(fakePod({ "apisnoop.io/snoop": "false" }), "pod")).toBe(false);
    expect(shouldSnoop(fakePod(), "namespace")).toBe(true);
    expect(shouldSnoop(fakePod({ "apisnoop.io/snoop": "false" }), "namespace")).toBe(false);
  });

  it("never takes a pod twice or one of apisnoop's own", () => {
    expect(shouldSnoop(fakePod({ "apisnoop.io/snoop": "true", "apisnoop.io/injected": "true" }), "pod")).toBe(
      false,
    );
    const own = fakePod({ "apisnoop.io/snoop": "true" });
    own.metadata = { ...own.metadata, labels: { "app.kubernetes.io/part-of": "apisnoop" } };
    expect(shouldSnoop(own, "pod")).toBe(false);
  });
});

describe("podInjectionPatch", () => {
  it("points every container at the proxy, swaps the projected ca.crt for the bundle, marks the pod", () => {
    const pod = fakePod(
      { "apisnoop.io/snoop": "true", "apisnoop.io/source": "cert-manager", "apisnoop.io/run": "pr-42" },
      [
        { name: "KUBERNETES_SERVICE_HOST", value: "10.0.0.1" },
        { name: "LOG_LEVEL", value: "debug" },
      ],
    );
    const proxied = [
      { name: "KUBERNETES_SERVICE_HOST", value: "apisnoop-proxy.apisnoop.svc" },
      { name: "KUBERNETES_SERVICE_PORT", value: "8443" },
      { name: "KUBERNETES_SERVICE_PORT_HTTPS", value: "8443" },
      { name: "APISNOOP_SOURCE", value: "cert-manager" },
      { name: "APISNOOP_RUN", value: "pr-42" },
    ];
    expect(podInjectionPatch(pod, settings)).toEqual([
      { op: "add", path: "/spec/initContainers/0/env", value: proxied },
      {
        op: "replace",
        path: "/spec/containers/0/env",
        value: [{ name: "LOG_LEVEL", value: "debug" }, ...proxied],
      },
      {
        op: "replace",
        path: "/spec/volumes/0/projected/sources/1/configMap/name",
        value: "apisnoop-ca-bundle",
      },
      { op: "add", path: "/metadata/annotations/apisnoop.io~1injected", value: "true" },
    ]);
  });

  it("adds the annotations map when the pod has none and leaves pods without a token volume without one", () => {
    const pod: PodLike = { metadata: {}, spec: { containers: [{ name: "c" }] } };
    const patch = podInjectionPatch(pod, settings);
    expect(patch.map((operation) => operation.path)).toEqual([
      "/spec/containers/0/env",
      "/metadata/annotations",
    ]);
    expect(patch[1]?.value).toEqual({ "apisnoop.io/injected": "true" });
  });
});

describe("reviewAdmission", () => {
  it("answers with the patch and names the namespace that needs the CA bundle", () => {
    const decision = reviewAdmission(fakeReview(fakePod({ "apisnoop.io/snoop": "true" })), "pod", settings);
    expect(decision.review.response).toMatchObject({
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      allowed: true,
      patchType: "JSONPatch",
    });
    expect(decodePatch(decision.review.response.patch)).toHaveLength(4);
    expect(decision.mutatedNamespace).toBe("addons");
  });

  it("allows untouched what does not opt in, is not a Pod CREATE, or is a dry run (no side effect)", () => {
    for (const [pod, overrides] of [
      [fakePod(), {}],
      [fakePod({ "apisnoop.io/snoop": "true" }), { operation: "UPDATE" }],
      [fakePod({ "apisnoop.io/snoop": "true" }), { kind: { group: "", version: "v1", kind: "Binding" } }],
    ] as const) {
      const decision = reviewAdmission(fakeReview(pod, overrides), "pod", settings);
      expect(decision.review.response).toEqual({
        uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
        allowed: true,
      });
      expect(decision.mutatedNamespace).toBeUndefined();
    }
    const dryRun = reviewAdmission(fakeReview(fakePod(), { dryRun: true }), "namespace", settings);
    expect(dryRun.review.response.patchType).toBe("JSONPatch");
    expect(dryRun.mutatedNamespace).toBeUndefined();
  });

  it("only annotates an opted-in hostNetwork pod, with the reason, and needs no CA bundle for it", () => {
    for (const [annotations, scope] of [
      [{ "apisnoop.io/snoop": "true" }, "pod"],
      [undefined, "namespace"],
    ] as const) {
      const pod = fakePod(annotations);
      pod.spec = { ...pod.spec, hostNetwork: true };
      const decision = reviewAdmission(fakeReview(pod), scope, settings);
      const patch = decodePatch(decision.review.response.patch) as Array<{ path: string; value: unknown }>;
      expect(patch).toHaveLength(1);
      const annotation = annotations
        ? patch[0]?.value
        : (patch[0]?.value as Record<string, string> | undefined)?.["apisnoop.io/skipped"];
      expect(patch[0]?.path).toBe(
        annotations ? "/metadata/annotations/apisnoop.io~1skipped" : "/metadata/annotations",
      );
      expect(annotation).toMatch(/^hostNetwork pod: .*not routed$/);
      expect(decision.mutatedNamespace).toBeUndefined();
    }
    const marked = fakePod({ "apisnoop.io/skipped": "hostNetwork pod" });
    expect(shouldSnoop(marked, "namespace")).toBe(false);
  });

  it("rejects what is not an AdmissionReview v1", () => {
    expect(() => reviewAdmission({ kind: "Pod" }, "pod", settings)).toThrow(/AdmissionReview/);
  });
});

/** Applies the `add`/`replace` operations of a JSON patch (all the webhook makes) to a copy of `document`. */
function applyPatch<T>(document: T, patch: Array<{ op: string; path: string; value: unknown }>): T {
  const copy = structuredClone(document) as Record<string, unknown>;
  for (const { op, path, value } of patch) {
    const keys = path
      .slice(1)
      .split("/")
      .map((key) => key.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = keys.pop() as string;
    let parent = copy as Record<string, unknown> | unknown[];
    for (const key of keys) parent = (parent as Record<string, unknown>)[key] as Record<string, unknown>;
    if (Array.isArray(parent) && op === "add") parent.splice(Number(last), 0, value);
    else (parent as Record<string, unknown>)[last] = value;
  }
  return copy as T;
}

describe("the redirect route (apisnoop.io/redirect: iptables)", () => {
  const redirecting: InjectionSettings = {
    ...settings,
    redirect: {
      image: "rig.apisnoop.local/redirect:dev",
      pullPolicy: "Never",
      apiserver: "10.0.0.1:443",
      proxy: "10.0.0.37:8443",
    },
  };
  const asking = () =>
    fakePod({
      "apisnoop.io/snoop": "true",
      "apisnoop.io/redirect": "iptables",
      "apisnoop.io/source": "operator",
    });

  it("runs the redirect init container first, keeps the pod's apiserver address and trusts the bundle", () => {
    const pod = asking();
    const patched = applyPatch(pod, podInjectionPatch(pod, redirecting)) as PodLike & {
      spec: { initContainers: Array<Record<string, unknown>> };
    };
    const [first, own] = patched.spec.initContainers;
    expect(first).toMatchObject({
      name: "apisnoop-redirect",
      image: "rig.apisnoop.local/redirect:dev",
      imagePullPolicy: "Never",
      env: [
        { name: "APISNOOP_REDIRECT_FROM", value: "10.0.0.1:443" },
        { name: "APISNOOP_REDIRECT_TO", value: "10.0.0.37:8443" },
      ],
      securityContext: {
        runAsUser: 0,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
      },
    });
    // The pod's own init container and container: only the source name, no apiserver address.
    expect(own).toEqual({ name: "init", env: [{ name: "APISNOOP_SOURCE", value: "operator" }] });
    expect(patched.spec?.containers?.[0]?.env).toEqual([{ name: "APISNOOP_SOURCE", value: "operator" }]);
    expect(patched.spec?.volumes?.[0]?.projected?.sources?.[1]?.configMap?.name).toBe("apisnoop-ca-bundle");
    expect(patched.metadata?.annotations?.["apisnoop.io/injected"]).toBe("true");
  });

  it("adds the init container list to a pod that has none", () => {
    const pod = asking();
    pod.spec = { ...pod.spec, initContainers: undefined };
    const patched = applyPatch(pod, podInjectionPatch(pod, redirecting)) as PodLike;
    expect(patched.spec?.initContainers?.map((container) => container.name)).toEqual(["apisnoop-redirect"]);
  });

  it("does not route a pod asking for a route it does not know, or while the proxy's address is unknown", () => {
    const unknown = fakePod({ "apisnoop.io/snoop": "true", "apisnoop.io/redirect": "ebpf" });
    expect(skipReason(unknown, redirecting)).toMatch(/'ebpf' is not a route apisnoop knows/);
    expect(skipReason(asking(), settings)).toMatch(/no redirect image or has not resolved/);
    const unresolved = {
      ...redirecting,
      redirect: { ...redirecting.redirect, proxy: null },
    } as InjectionSettings;
    expect(skipReason(asking(), unresolved)).toMatch(/has not resolved the proxy Service's address/);
    expect(skipReason(asking(), redirecting)).toBeNull();
    const ipv6 = {
      ...redirecting,
      redirect: { ...redirecting.redirect, unavailable: "the apiserver's ClusterIP fd00::1 is IPv6" },
    } as InjectionSettings;
    expect(skipReason(asking(), ipv6)).toBe(
      "apisnoop.io/redirect: the apiserver's ClusterIP fd00::1 is IPv6; not routed",
    );
    const decision = reviewAdmission(fakeReview(asking()), "pod", unresolved);
    expect(decodePatch(decision.review.response.patch)).toEqual([
      expect.objectContaining({ path: "/metadata/annotations/apisnoop.io~1skipped" }),
    ]);
  });
});
