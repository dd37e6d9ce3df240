/**
 * The rig's configuration as data: command lines, kubeconfigs, the token file and the audit policy. Pure
 * functions of their inputs (no environment, no files), so every flag is decided here and unit-tested;
 * lifecycle.ts writes and runs what these return.
 */
import type { RigLayout } from "./layout";

/** Resources logged at RequestResponse level unless RIG_AUDIT_REQUEST_RESPONSE says otherwise. */
export const DEFAULT_AUDIT_REQUEST_RESPONSE = "configmaps,apps/deployments";
/** The published swagger is generated with these (kubernetes hack/update-openapi-spec.sh). */
export const DEFAULT_FEATURE_GATES = "AllAlpha=true,AllBeta=true,OpenAPIEnums=false";
/** The Service network; its first address is the `kubernetes` Service's ClusterIP. */
export const SERVICE_CIDR = "10.0.0.0/24";
export const SERVICE_IP = "10.0.0.1";
/** The in-cluster issuer of service-account tokens. */
export const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";
/** The kubeconfig cluster and context name. */
export const RIG_CLUSTER_NAME = "apisnoop-rig";

/** The ports of one rig start. */
export interface RigPorts {
  apiserver: number;
  etcd: number;
  etcdPeer: number;
}

/** `http://127.0.0.1:<port>` URLs etcd listens on. */
export function etcdUrls(ports: RigPorts): { client: string; peer: string } {
  return { client: `http://127.0.0.1:${ports.etcd}`, peer: `http://127.0.0.1:${ports.etcdPeer}` };
}

/** etcd's command line: one member on 127.0.0.1, data in the rig directory. */
export function etcdArgs(layout: RigLayout, ports: RigPorts): string[] {
  const { client, peer } = etcdUrls(ports);
  return [
    "--name=rig",
    `--data-dir=${layout.etcdData}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=rig=${peer}`,
    "--log-level=warn",
    // Test data only: skip fsync so a 2-core CI machine is not bottlenecked on disk.
    "--unsafe-no-fsync",
  ];
}

/** What kube-apiserver's command line depends on besides the layout. */
export interface ApiserverSettings {
  ports: RigPorts;
  /** `--feature-gates` value. */
  featureGates: string;
  /**
   * The address kube-apiserver binds and advertises. 127.0.0.1 (API-only rig): then no `kubernetes`
   * Endpoints are published, since a loopback address is not a valid endpoint.
   */
  address: string;
  /** A kubelet runs: authorize it as a node and reach it for logs, exec and port-forward. */
  node: boolean;
}

/** kube-apiserver's command line. */
export function apiserverArgs(layout: RigLayout, settings: ApiserverSettings): string[] {
  const { pki } = layout;
  const loopback = settings.address.startsWith("127.");
  const admission = ["MutatingAdmissionWebhook", "ValidatingAdmissionWebhook"];
  return [
    `--bind-address=${settings.address}`,
    `--advertise-address=${settings.address}`,
    `--secure-port=${settings.ports.apiserver}`,
    `--etcd-servers=${etcdUrls(settings.ports).client}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--token-auth-file=${layout.tokensFile}`,
    // With a node, kubelet is `system:node:<name>` under the Node authorizer and NodeRestriction, as in
    // a real cluster.
    `--authorization-mode=${settings.node ? "Node,RBAC" : "RBAC"}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    // A loopback advertise address is not a valid Endpoints IP: publish none.
    ...(loopback ? ["--endpoint-reconciler-type=none"] : []),
    `--enable-admission-plugins=${(settings.node ? ["NodeRestriction", ...admission] : admission).join(",")}`,
    ...(settings.node
      ? [
          // Privileged pods (the e2e suite has some) may run.
          "--allow-privileged=true",
          `--kubelet-client-certificate=${pki.kubeletClientCert}`,
          `--kubelet-client-key=${pki.kubeletClientKey}`,
          // logs, exec and port-forward reach kubelet at the node's address.
          "--kubelet-preferred-address-types=InternalIP",
        ]
      : []),
    // The aggregation layer authenticates to aggregated API servers as the front proxy, passing the user in
    // headers they trust only from a certificate of the front-proxy CA with this name (as kubeadm sets it).
    `--requestheader-client-ca-file=${pki.frontProxyCaCert}`,
    "--requestheader-allowed-names=front-proxy-client",
    "--requestheader-username-headers=X-Remote-User",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    `--proxy-client-cert-file=${pki.frontProxyClientCert}`,
    `--proxy-client-key-file=${pki.frontProxyClientKey}`,
    // Serve every group/version and gate, like the published spec (hack/update-openapi-spec.sh).
    "--runtime-config=api/all=true",
    `--feature-gates=${settings.featureGates}`,
    "--enable-logs-handler=true",
    `--audit-policy-file=${layout.auditPolicy}`,
    `--audit-log-path=${layout.auditLog}`,
    "--audit-log-format=json",
    "--audit-log-version=audit.k8s.io/v1",
    "--audit-log-maxsize=0",
    "--profiling=false",
    "--v=1",
  ];
}

/** kube-controller-manager's command line: no serving port, the rig CA signs CSRs and is every pod's root CA. */
export function controllerManagerArgs(layout: RigLayout): string[] {
  const { pki } = layout;
  return [
    `--kubeconfig=${layout.controllerManagerKubeconfig}`,
    "--bind-address=127.0.0.1",
    "--secure-port=0",
    "--leader-elect=false",
    "--use-service-account-credentials=false",
    `--service-account-private-key-file=${pki.saKey}`,
    `--root-ca-file=${pki.caCert}`,
    `--cluster-signing-cert-file=${pki.caCert}`,
    `--cluster-signing-key-file=${pki.caKey}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    "--v=1",
  ];
}

/** `configmaps, apps/deployments ,` -> `["configmaps", "apps/deployments"]` (RIG_AUDIT_REQUEST_RESPONSE). */
export function parseAuditRequestResponse(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `configmaps,apps/deployments` -> an audit policy: RequestResponse for those resources, Metadata for the rest. */
export function auditPolicy(requestResponse: string[]): string {
  const byGroup = new Map<string, string[]>();
  for (const entry of requestResponse) {
    const [group, resource] = entry.includes("/") ? (entry.split("/", 2) as [string, string]) : ["", entry];
    const key = group === "core" ? "" : group;
    byGroup.set(key, [...(byGroup.get(key) ?? []), resource]);
  }
  const resources = [...byGroup]
    .map(
      ([group, names]) =>
        `      - group: "${group}"\n        resources: [${names.map((n) => `"${n}"`).join(", ")}]`,
    )
    .join("\n");
  return [
    "apiVersion: audit.k8s.io/v1",
    "kind: Policy",
    // RequestReceived adds a second event per request with nothing the later stages lack.
    "omitStages: [RequestReceived]",
    "rules:",
    ...(requestResponse.length > 0 ? ["  - level: RequestResponse", "    resources:", resources] : []),
    "  - level: Metadata",
    "",
  ].join("\n");
}

/** How a kubeconfig user authenticates. */
export type KubeconfigCredentials =
  | { token: string }
  | { clientCertificateData: string; clientKeyData: string };

/**
 * A kubeconfig with one cluster (`server`, trusting the CA given as base64 PEM), one user and one context.
 */
export function kubeconfig(server: string, caData: string, user: string, credentials: KubeconfigCredentials) {
  const userLines =
    "token" in credentials
      ? [`      token: ${credentials.token}`]
      : [
          `      client-certificate-data: ${credentials.clientCertificateData}`,
          `      client-key-data: ${credentials.clientKeyData}`,
        ];
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `  - name: ${RIG_CLUSTER_NAME}`,
    "    cluster:",
    `      server: ${server}`,
    `      certificate-authority-data: ${caData}`,
    "users:",
    `  - name: ${user}`,
    "    user:",
    ...userLines,
    "contexts:",
    `  - name: ${user}@${RIG_CLUSTER_NAME}`,
    "    context:",
    `      cluster: ${RIG_CLUSTER_NAME}`,
    `      user: ${user}`,
    `current-context: ${user}@${RIG_CLUSTER_NAME}`,
    "",
  ].join("\n");
}

/** One line of kube-apiserver's static token file. */
export interface TokenEntry {
  token: string;
  user: string;
  groups: string[];
}

/** kube-apiserver's `--token-auth-file`: `token,user,uid,"group1,group2"` lines (the uid is the user name). */
export function tokensCsv(entries: TokenEntry[]): string {
  return entries
    .map(({ token, user, groups }) =>
      groups.length > 0 ? `${token},${user},${user},"${groups.join(",")}"\n` : `${token},${user},${user}\n`,
    )
    .join("");
}

/** The token of `user` in a token file's text, or undefined. */
export function tokenOf(tokensCsvText: string, user: string): string | undefined {
  const line = tokensCsvText.split("\n").find((l) => l.split(",")[1] === user);
  return line?.split(",")[0] || undefined;
}
