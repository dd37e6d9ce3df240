import { describe, expect, it } from "vitest";
import { compileMatcher, splitRequest } from "./matcher";
import { sharedCatalog } from "./testing";
import { asksToWatch, requestTargetWatches } from "./watch";

const matcher = compileMatcher(sharedCatalog("1.34"));

/** [method, url, expected operationId, expected detail] */
type Case = [string, string, string, string?];

/** The match as the cases spell it; the endpoint and the watch decision must agree with it. */
function expectMatches(cases: Case[]): void {
  for (const [method, url, operationId, detail] of cases) {
    const { endpoint, watch, ...result } = matcher.match(method, url);
    expect({ method, url, ...result }).toEqual({ method, url, operationId, ...(detail ? { detail } : {}) });
    expect(endpoint?.operationId, url).toBe(operationId);
    expect(watch, url).toBe(detail === "watch" || detail === "deprecated watch path");
  }
}

function expectUnmatched(cases: [string, string, string][]): void {
  for (const [method, url, reason] of cases) {
    expect({ method, url, ...matcher.match(method, url) }).toEqual({
      method,
      url,
      endpoint: null,
      operationId: null,
      watch: false,
      reason,
    });
  }
}

describe("compileMatcher", () => {
  it("matches the common reads, lists and writes", () => {
    expectMatches([
      ["GET", "/api/v1/namespaces/default/pods", "listCoreV1NamespacedPod"],
      ["GET", "/api/v1/namespaces/default/pods/web-0", "readCoreV1NamespacedPod"],
      ["POST", "/api/v1/namespaces/default/configmaps", "createCoreV1NamespacedConfigMap"],
      ["PUT", "/api/v1/namespaces/kube-system/secrets/token", "replaceCoreV1NamespacedSecret"],
      ["PATCH", "/apis/apps/v1/namespaces/default/deployments/web", "patchAppsV1NamespacedDeployment"],
      [
        "DELETE",
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lock",
        "deleteCoordinationV1NamespacedLease",
      ],
      ["DELETE", "/api/v1/namespaces/default/pods", "deleteCoreV1CollectionNamespacedPod"],
      ["GET", "/api/v1/pods", "listCoreV1PodForAllNamespaces"],
      ["get", "/api/v1/nodes/node-1", "readCoreV1Node"],
      [
        "PUT",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "replaceAppsV1NamespacedDeploymentScale",
      ],
    ]);
  });

  it("treats ?watch=true on a list path as a watch of the list", () => {
    expectMatches([
      ["GET", "/api/v1/namespaces/default/pods?watch=true", "listCoreV1NamespacedPod", "watch"],
      [
        "GET",
        "/api/v1/pods?resourceVersion=10&watch=1&timeoutSeconds=30",
        "listCoreV1PodForAllNamespaces",
        "watch",
      ],
      ["GET", "/api/v1/namespaces/default/pods?watch=false", "listCoreV1NamespacedPod"],
      ["GET", "/api/v1/namespaces/default/pods?watcher=true", "listCoreV1NamespacedPod"],
      ["GET", "/api/v1/namespaces/default/pods/web-0?watch=true", "readCoreV1NamespacedPod"],
      // Go's ParseBool spellings of true, as kube-apiserver decodes the parameter.
      ["GET", "/api/v1/pods?watch=t", "listCoreV1PodForAllNamespaces", "watch"],
      ["GET", "/api/v1/pods?watch=TRUE", "listCoreV1PodForAllNamespaces", "watch"],
      ["GET", "/api/v1/pods?watch=True", "listCoreV1PodForAllNamespaces", "watch"],
      ["GET", "/api/v1/pods?watch=yes", "listCoreV1PodForAllNamespaces"],
    ]);
  });

  it("matches the deprecated /watch/ paths to their watch operations", () => {
    expectMatches([
      [
        "GET",
        "/api/v1/watch/namespaces/default/pods",
        "watchCoreV1NamespacedPodList",
        "deprecated watch path",
      ],
      [
        "GET",
        "/api/v1/watch/namespaces/default/pods/web-0",
        "watchCoreV1NamespacedPod",
        "deprecated watch path",
      ],
      [
        "GET",
        "/apis/apps/v1/watch/deployments",
        "watchAppsV1DeploymentListForAllNamespaces",
        "deprecated watch path",
      ],
    ]);
  });

  it("lets the proxy {path} span slashes, and matches every proxy method", () => {
    expectMatches([
      ["GET", "/api/v1/namespaces/default/pods/web-0/proxy", "connectCoreV1GetNamespacedPodProxy"],
      [
        "GET",
        "/api/v1/namespaces/default/pods/web-0/proxy/metrics",
        "connectCoreV1GetNamespacedPodProxyWithPath",
      ],
      [
        "POST",
        "/api/v1/namespaces/default/services/http:web:8080/proxy/api/v2/items/7",
        "connectCoreV1PostNamespacedServiceProxyWithPath",
      ],

      ["HEAD", "/api/v1/nodes/node-1/proxy/stats/summary", "connectCoreV1HeadNodeProxyWithPath"],
      ["OPTIONS", "/api/v1/nodes/node-1/proxy", "connectCoreV1OptionsNodeProxy"],
      [
        "GET",
        "/api/v1/namespaces/default/pods/web-0/proxy/a/status",
        "connectCoreV1GetNamespacedPodProxyWithPath",
      ],
    ]);
  });

  it("tells namespace status and finalize apart from namespaces so named", () => {
    expectMatches([
      ["GET", "/api/v1/namespaces/default/status", "readCoreV1NamespaceStatus"],
      ["PUT", "/api/v1/namespaces/default/finalize", "replaceCoreV1NamespaceFinalize"],
      ["GET", "/api/v1/namespaces/status", "readCoreV1Namespace"],
      ["GET", "/api/v1/namespaces/pods", "readCoreV1Namespace"],
      ["GET", "/api/v1/namespaces/pods/pods", "listCoreV1NamespacedPod"],
      ["GET", "/api/v1/namespaces/status/status", "readCoreV1NamespaceStatus"],
      ["GET", "/api/v1/namespaces/default/pods/status", "readCoreV1NamespacedPod"],
      ["PATCH", "/api/v1/namespaces/default/pods/status/status", "patchCoreV1NamespacedPodStatus"],
      ["GET", "/api/v1/namespaces/finalize/pods/log/log", "readCoreV1NamespacedPodLog"],
    ]);
  });

  it("tolerates a trailing slash both ways", () => {
    expectMatches([
      // go-restful trims the slash before routing: `/proxy/` is the `/proxy` route, {path} needs a segment.
      ["GET", "/api/v1/namespaces/default/services/web/proxy/", "connectCoreV1GetNamespacedServiceProxy"],
      ["GET", "/api/v1/namespaces/default/pods/web-0/proxy/", "connectCoreV1GetNamespacedPodProxy"],
      ["POST", "/api/v1/nodes/node-1/proxy/", "connectCoreV1PostNodeProxy"],
      [
        "GET",
        "/api/v1/namespaces/default/pods/web-0/proxy/metrics/",
        "connectCoreV1GetNamespacedPodProxyWithPath",
      ],
      ["GET", "/api/v1/namespaces/default/pods/", "listCoreV1NamespacedPod"],
      ["GET", "/apis/apps", "getAppsAPIGroup"],
      ["GET", "/apis/apps/", "getAppsAPIGroup"],
      ["GET", "/apis/apps/v1", "getAppsV1APIResources"],
      ["GET", "/apis/apps/v1/", "getAppsV1APIResources"],
      ["GET", "/version", "getCodeVersion"],
      ["GET", "/version/", "getCodeVersion"],
    ]);
  });

  it("decodes each segment on its own", () => {
    expectMatches([
      ["GET", "/api/v1/namespaces/default/configmaps/my%2Dconfig", "readCoreV1NamespacedConfigMap"],
      [
        "GET",
        "/api/v1/namespaces/default/services/http%3Aweb%3A8080/proxy",
        "connectCoreV1GetNamespacedServiceProxy",
      ],
      ["GET", "/api/v1/namespaces/default/secrets/a%2Fb", "readCoreV1NamespacedSecret"],
      ["GET", "/api/v1/namespaces/default/secrets/bad%zzescape", "readCoreV1NamespacedSecret"],
      ["GET", "/api/v1/namespaces/%64efault/pods", "listCoreV1NamespacedPod"],
    ]);
    expect(splitRequest("/api/v1/namespaces/default/secrets/a%2Fb").segments).toEqual([
      "api",
      "v1",
      "namespaces",
      "default",
      "secrets",
      "a/b",
    ]);
  });

  it("matches discovery and non-resource paths", () => {
    expectMatches([
      ["GET", "/api", "getCoreAPIVersions"],
      ["GET", "/api/", "getCoreAPIVersions"],
      ["GET", "/api/v1", "getCoreV1APIResources"],
      ["GET", "/apis", "getAPIVersions"],
      ["GET", "/apis/rbac.authorization.k8s.io/v1/", "getRbacAuthorizationV1APIResources"],
      ["GET", "/logs/", "logFileListHandler"],
      ["GET", "/logs/kube-apiserver.log", "logFileHandler"],
      ["GET", "/logs/pods/ns_pod_uid/container/0.log", "logFileHandler"],
      ["GET", "/.well-known/openid-configuration", "getServiceAccountIssuerOpenIDConfiguration"],
      ["GET", "/openid/v1/jwks", "getServiceAccountIssuerOpenIDKeyset"],
    ]);
  });

  it("accepts absolute URLs as a forward proxy sees them, and ignores fragments", () => {
    expectMatches([
      ["GET", "https://10.96.0.1:443/api/v1/namespaces/default/pods?limit=500", "listCoreV1NamespacedPod"],
      ["GET", "/api/v1/namespaces/default/pods#frag", "listCoreV1NamespacedPod"],
    ]);
  });

  it("reports unknown calls with a reason", () => {
    expectUnmatched([
      ["GET", "/apis/stable.example.com/v1/namespaces/default/crontabs", "group not served by this spec"],
      ["GET", "/apis/apps/v2/deployments", "version not served by this spec"],
      ["GET", "/api/v2/pods", "version not served by this spec"],
      ["GET", "/api/v1/namespaces/default/widgets", "no such path"],
      ["GET", "/healthcheck", "no such path"],
      ["GET", "/openapiv3", "no such path"],
      ["POST", "/api/v1/namespaces/default/pods/web-0", "method not allowed"],
      ["TRACE", "/api/v1/pods", "method not allowed"],
      ["HEAD", "/api/v1/namespaces/default/pods", "method not allowed"],
      ["OPTIONS", "/api/v1/namespaces/default/pods", "method not allowed"],
      ["PUT", "/version", "method not allowed"],
    ]);
  });

  it("puts paths every apiserver serves outside its spec in a class of their own", () => {
    const outside = "apiserver path outside the spec";
    expectUnmatched([
      ["GET", "/openapi/v2", outside],
      ["GET", "/openapi/v3", outside],
      ["GET", "/openapi/v3/apis/apps/v1?hash=0123abcd", outside],
      ["GET", "/healthz", outside],
      ["GET", "/livez/etcd", outside],
      ["GET", "/readyz/poststarthook/start-kube-aggregator-informers", outside],
      ["GET", "/readyz?verbose", outside],
      ["GET", "/metrics", outside],
      ["GET", "/metrics/slis", outside],
      ["GET", "/debug/pprof/heap", outside],
      ["PUT", "/debug/flags/v", outside],
      ["GET", "/statusz", outside],
      ["GET", "/", outside],
      ["GET", "https://10.96.0.1/livez", outside],
    ]);
    // In the spec, so hits, not calls outside it.
    expectMatches([
      ["GET", "/version", "getCodeVersion"],
      ["GET", "/apis", "getAPIVersions"],
      ["GET", "/api/", "getCoreAPIVersions"],
      ["GET", "/.well-known/openid-configuration", "getServiceAccountIssuerOpenIDConfiguration"],
    ]);
  });

  it("still says whether an unknown call watches, so its answer is read as an event stream", () => {
    const crontabs = "/apis/stable.example.com/v1/namespaces/default/crontabs";
    expect(matcher.match("GET", `${crontabs}?watch=1`)).toMatchObject({ endpoint: null, watch: true });
    expect(matcher.match("GET", `${crontabs}?watch=0`)).toMatchObject({ endpoint: null, watch: false });
  });
});

describe("asksToWatch", () => {
  it("reads watch= as Go's ParseBool does, anywhere in the query", () => {
    for (const query of ["watch=1", "watch=t", "watch=T", "watch=true", "watch=TRUE", "watch=True"]) {
      expect(asksToWatch(query), query).toBe(true);
      expect(asksToWatch(`limit=5&${query}&resourceVersion=3`), query).toBe(true);
    }
    for (const query of ["", "watch=0", "watch=false", "watch=yes", "watch=", "xwatch=true", "watch=true2"]) {
      expect(asksToWatch(query), query).toBe(false);
    }
  });
});

describe("requestTargetWatches", () => {
  it("is a watch query or a deprecated watch path, as the matcher says wherever it matches", () => {
    const watching = [
      "/api/v1/pods?watch=true",
      "/api/v1/namespaces/default/pods?limit=5&watch=1",
      "/api/v1/watch/pods",
      "/api/v1/watch/namespaces/default/pods?resourceVersion=3",
      "/apis/apps/v1/watch/deployments",
      "/apis/apps/v1/watch/namespaces/default/deployments/web",
    ];
    const notWatching = [
      "/api/v1/pods",
      "/api/v1/pods?watch=false",
      "/api/v1/namespaces/watch/pods",
      "/apis/apps/v1/namespaces/watch/deployments",
      "/api/v1/namespaces/default/configmaps/watch",
      "/api/v1/pods?labelSelector=app%3D/watch/",
      "/watch/api/v1/pods",
    ];
    for (const url of watching) {
      expect(requestTargetWatches(url), url).toBe(true);
      expect(matcher.match("GET", url).watch, url).toBe(true);
    }
    for (const url of notWatching) {
      expect(requestTargetWatches(url), url).toBe(false);
      expect(matcher.match("GET", url).watch, url).toBe(false);
    }
  });
});
