/**
 * Where everything the rig writes lives under its directory (`.rig/` or RIG_DIR): one decision, read by the
 * lifecycle that writes the files, the PKI generator and the tests that inspect them. Pure: no file is touched.
 */
import { join, resolve } from "node:path";
import type { RigUser } from "./rig";

/** A process the rig starts; each is the leader of its own process group. The last four run the node. */
export type RigComponent =
  | "etcd"
  | "apiserver"
  | "controllerManager"
  | "scheduler"
  | "containerd"
  | "kubelet"
  | "kubeProxy";

/**
 * The executable each component runs: a file name in the kube bin directory, or an absolute path
 * (containerd comes from Debian's package).
 */
export const RIG_BINARY: Record<RigComponent, string> = {
  etcd: "etcd",
  apiserver: "kube-apiserver",
  controllerManager: "kube-controller-manager",
  scheduler: "kube-scheduler",
  containerd: "/usr/bin/containerd",
  kubelet: "kubelet",
  kubeProxy: "kube-proxy",
};

/** The executable path of `component` given the kube bin directory. */
export function rigExecutable(component: RigComponent, binDir: string): string {
  return resolve(binDir, RIG_BINARY[component]);
}

/** Paths of the rig's certificates and keys (written by pki.ts). */
export interface RigPki {
  dir: string;
  caCert: string;
  caKey: string;
  /** kube-apiserver's serving certificate and key. */
  servingCert: string;
  servingKey: string;
  /** Service-account token signing key (private) and its verification key (public). */
  saKey: string;
  saPub: string;
  /** Client certificate CN=admin-cert, O=system:masters. */
  adminCert: string;
  adminKey: string;
  /** Client certificate kube-apiserver presents to kubelet (logs, exec, port-forward); node rigs only. */
  kubeletClientCert: string;
  kubeletClientKey: string;
  /**
   * The front proxy's own CA, which only signs {@link frontProxyClientCert}: kube-apiserver trusts the
   * identity headers of a request signed by it (and by no other certificate of the rig CA's).
   */
  frontProxyCaCert: string;
  frontProxyCaKey: string;
  /** Client certificate CN=front-proxy-client: kube-apiserver's identity towards aggregated API servers. */
  frontProxyClientCert: string;
  frontProxyClientKey: string;
}

/** Every path of a rig directory. */
export interface RigLayout {
  dir: string;
  state: string;
  lock: string;
  /** One empty file per process using a rig that a test run started (named by its PID). */
  clients: string;
  etcdData: string;
  pki: RigPki;
  tokensFile: string;
  auditPolicy: string;
  auditLog: string;
  /** `kubeconfig` (admin), `kubeconfig-workload`, `kubeconfig-e2e`, `kubeconfig-cert` (admin-cert). */
  kubeconfigs: Record<RigUser, string>;
  /** The kubeconfig kube-controller-manager runs with (its own token user). */
  controllerManagerKubeconfig: string;
  /** The log file of each component. */
  logs: Record<RigComponent, string>;
}

/** The PKI file names under `dir`. */
export function rigPkiLayout(dir: string): RigPki {
  return {
    dir,
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    servingCert: join(dir, "apiserver.crt"),
    servingKey: join(dir, "apiserver.key"),
    saKey: join(dir, "sa.key"),
    saPub: join(dir, "sa.pub"),
    adminCert: join(dir, "admin.crt"),
    adminKey: join(dir, "admin.key"),
    kubeletClientCert: join(dir, "apiserver-kubelet-client.crt"),
    kubeletClientKey: join(dir, "apiserver-kubelet-client.key"),
    frontProxyCaCert: join(dir, "front-proxy-ca.crt"),
    frontProxyCaKey: join(dir, "front-proxy-ca.key"),
    frontProxyClientCert: join(dir, "front-proxy-client.crt"),
    frontProxyClientKey: join(dir, "front-proxy-client.key"),
  };
}

/** The layout of the rig directory `dir`. */
export function rigLayout(dir: string): RigLayout {
  return {
    dir,
    state: join(dir, "state.json"),
    lock: join(dir, "lock"),
    clients: join(dir, "clients"),
    etcdData: join(dir, "etcd-data"),
    pki: rigPkiLayout(join(dir, "pki")),
    tokensFile: join(dir, "tokens.csv"),
    auditPolicy: join(dir, "audit-policy.yaml"),
    auditLog: join(dir, "audit.log"),
    kubeconfigs: {
      admin: join(dir, "kubeconfig"),
      workload: join(dir, "kubeconfig-workload"),
      e2e: join(dir, "kubeconfig-e2e"),
      "admin-cert": join(dir, "kubeconfig-cert"),
    },
    controllerManagerKubeconfig: join(dir, "kubeconfig-controller-manager"),
    logs: {
      etcd: join(dir, "etcd.log"),
      apiserver: join(dir, "kube-apiserver.log"),
      controllerManager: join(dir, "kube-controller-manager.log"),
      scheduler: join(dir, "kube-scheduler.log"),
      containerd: join(dir, "containerd.log"),
      kubelet: join(dir, "kubelet.log"),
      kubeProxy: join(dir, "kube-proxy.log"),
    },
  };
}
