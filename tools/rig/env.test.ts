import { describe, expect, it } from "vitest";
import { DEFAULT_FEATURE_GATES } from "./config";
import { kubeCacheRoot, rigDirFromEnv, rigStartEnv } from "./env";

describe("rigStartEnv", () => {
  it("gives the defaults for an empty environment", () => {
    expect(rigStartEnv({})).toEqual({
      node: undefined,
      ports: { apiserver: undefined, etcd: undefined, etcdPeer: undefined },
      auditRequestResponse: ["configmaps", "apps/deployments"],
      featureGates: DEFAULT_FEATURE_GATES,
      controllerManager: true,
    });
  });

  it("reads each variable into its setting", () => {
    const settings = rigStartEnv({
      RIG_NODE: "0",
      RIG_APISERVER_PORT: "16443",
      RIG_ETCD_PORT: "12379",
      RIG_ETCD_PEER_PORT: "12380",
      RIG_AUDIT_REQUEST_RESPONSE: " secrets , apps/deployments,",
      RIG_FEATURE_GATES: "AllAlpha=false",
      RIG_KCM: "0",
    });
    expect(settings).toEqual({
      node: false,
      ports: { apiserver: 16443, etcd: 12379, etcdPeer: 12380 },
      auditRequestResponse: ["secrets", "apps/deployments"],
      featureGates: "AllAlpha=false",
      controllerManager: false,
    });
    expect(rigStartEnv({ RIG_NODE: "1" }).node).toBe(true);
    // An empty list logs everything at Metadata level: set, not defaulted.
    expect(rigStartEnv({ RIG_AUDIT_REQUEST_RESPONSE: "" }).auditRequestResponse).toEqual([]);
    // Only "0" turns kube-controller-manager off.
    expect(rigStartEnv({ RIG_KCM: "1" }).controllerManager).toBe(true);
  });

  it("names the variable that holds no port", () => {
    for (const value of ["abc", "0", "65536", "-1", "80.5", " 80", "0x50"]) {
      expect(() => rigStartEnv({ RIG_ETCD_PORT: value })).toThrow(
        `rig: RIG_ETCD_PORT=${JSON.stringify(value)} is not a port (a whole number from 1 to 65535)`,
      );
    }
    expect(rigStartEnv({ RIG_ETCD_PORT: "" }).ports.etcd).toBeUndefined();
  });

  it("refuses a RIG_NODE that is neither 1 nor 0", () => {
    expect(() => rigStartEnv({ RIG_NODE: "yes" })).toThrow('rig: RIG_NODE="yes" is neither 1 nor 0');
  });
});

describe("rigDirFromEnv", () => {
  it("is RIG_DIR when set and not empty", () => {
    expect(rigDirFromEnv({ RIG_DIR: "/tmp/rig-x" })).toBe("/tmp/rig-x");
    expect(rigDirFromEnv({ RIG_DIR: "" })).toBeUndefined();
    expect(rigDirFromEnv({})).toBeUndefined();
  });
});

describe("kubeCacheRoot", () => {
  it("is APISNOOP_KUBE_CACHE, else under XDG_CACHE_HOME, else under ~/.cache", () => {
    expect(kubeCacheRoot({ APISNOOP_KUBE_CACHE: "/c", XDG_CACHE_HOME: "/x" }, "/home/u")).toBe("/c");
    expect(kubeCacheRoot({ XDG_CACHE_HOME: "/x" }, "/home/u")).toBe("/x/apisnoop/kube");
    expect(kubeCacheRoot({}, "/home/u")).toBe("/home/u/.cache/apisnoop/kube");
  });

  it("takes an empty variable for unset, as build.sh's VAR:-default expansion does", () => {
    expect(kubeCacheRoot({ APISNOOP_KUBE_CACHE: "", XDG_CACHE_HOME: "" }, "/home/u")).toBe(
      "/home/u/.cache/apisnoop/kube",
    );
  });
});
