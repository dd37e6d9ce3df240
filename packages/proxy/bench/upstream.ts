/**
 * The benchmark's stand-in apiserver: a TLS server on loopback answering a PodList-sized list and a
 * small ConfigMap, as kube-apiserver would (JSON, Content-Length, an Audit-Id header), over HTTP/2 or
 * HTTP/1.1 as the client's ALPN asks (kube-apiserver offers both). Run as its own process so the proxy
 * under test does not share its event loop:
 *   tsx upstream.ts <certDir>   -> prints {"port": N} on stdout, serves until killed.
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { CertificateAuthority } from "../src/certificate-authority";

export const POD_LIST_PATH = "/api/v1/namespaces/default/pods";
export const CONFIG_MAP_PATH = "/api/v1/namespaces/default/configmaps/small";

/** A realistic PodList of `count` pods (~3 KB each, like pods with a couple of containers and status). */
export function podList(count: number): string {
  const pod = (i: number) => ({
    metadata: {
      name: `web-7d9f8b6c5d-${i.toString(36).padStart(5, "x")}`,
      generateName: "web-7d9f8b6c5d-",
      namespace: "default",
      uid: `3f1c2a7e-0000-4000-8000-${String(i).padStart(12, "0")}`,
      resourceVersion: String(100000 + i),
      creationTimestamp: "2026-01-01T00:00:00Z",
      labels: { app: "web", "pod-template-hash": "7d9f8b6c5d" },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "web-7d9f8b6c5d",
          uid: "8c1e",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      containers: [
        {
          name: "web",
          image: "registry.example.com/web:1.2.3",
          ports: [{ containerPort: 8080, protocol: "TCP" }],
          env: [
            { name: "LOG_LEVEL", value: "info" },
            { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
          ],
          resources: { limits: { cpu: "500m", memory: "256Mi" }, requests: { cpu: "100m", memory: "128Mi" } },
          volumeMounts: [
            {
              name: "kube-api-access",
              mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
              readOnly: true,
            },
          ],
          terminationMessagePath: "/dev/termination-log",
          terminationMessagePolicy: "File",
          imagePullPolicy: "IfNotPresent",
        },
      ],
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      serviceAccountName: "default",
      nodeName: `node-${i % 3}`,
      schedulerName: "default-scheduler",
      tolerations: [
        {
          key: "node.kubernetes.io/not-ready",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
        {
          key: "node.kubernetes.io/unreachable",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
      ],
      volumes: [
        {
          name: "kube-api-access",
          projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: "token" } }] },
        },
      ],
    },
    status: {
      phase: "Running",
      conditions: ["Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({
        type,
        status: "True",
        lastProbeTime: null,
        lastTransitionTime: "2026-01-01T00:00:05Z",
      })),
      hostIP: "10.0.0.1",
      podIP: `10.244.0.${i % 250}`,
      startTime: "2026-01-01T00:00:01Z",
      containerStatuses: [
        {
          name: "web",
          state: { running: { startedAt: "2026-01-01T00:00:04Z" } },
          ready: true,
          restartCount: 0,
          image: "registry.example.com/web:1.2.3",
          imageID: "registry.example.com/web@sha256:0f0e0d0c0b0a09080706050403020100",
          containerID: "containerd://0123456789abcdef",
          started: true,
        },
      ],
      qosClass: "Burstable",
    },
  });
  return JSON.stringify({
    kind: "PodList",
    apiVersion: "v1",
    metadata: { resourceVersion: "123456" },
    items: Array.from({ length: count }, (_, i) => pod(i)),
  });
}

export const SMALL_CONFIG_MAP = JSON.stringify({
  kind: "ConfigMap",
  apiVersion: "v1",
  metadata: {
    name: "small",
    namespace: "default",
    uid: "c0ffee",
    resourceVersion: "42",
    creationTimestamp: "2026-01-01T00:00:00Z",
  },
  data: { "app.properties": "mode=production\nreplicas=3\n" },
});

/** Starts the upstream with a serving certificate from a CA in `certDir`; resolves to its port and CA. */
export async function startUpstream(
  certDir: string,
): Promise<{ port: number; caPem: string; server: http2.Http2SecureServer }> {
  const ca = await CertificateAuthority.open(certDir);
  const leaf = await ca.leafFor(["127.0.0.1", "localhost"]);
  const pods = Buffer.from(podList(50));
  const configMap = Buffer.from(SMALL_CONFIG_MAP);
  let auditId = 0;
  const server = http2.createSecureServer(
    // kube-apiserver allows 250 concurrent streams per HTTP/2 connection by default.
    { key: leaf.key, cert: leaf.cert, allowHTTP1: true, settings: { maxConcurrentStreams: 250 } },
    (req, res) => {
      req.resume();
      const path = (req.url ?? "/").split("?")[0];
      const body = path === POD_LIST_PATH ? pods : path === CONFIG_MAP_PATH ? configMap : null;
      res.writeHead(body ? 200 : 404, {
        "Audit-Id": String(++auditId),
        "Cache-Control": "no-cache, private",
        "Content-Type": "application/json",
        "Content-Length": body ? body.length : 2,
      });
      res.end(body ?? "{}");
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, caPem: ca.certificatePem, server };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const certDir = process.argv[2];
  if (!certDir) throw new Error("usage: upstream.ts <certDir>");
  const { port, caPem } = await startUpstream(certDir);
  process.stdout.write(`${JSON.stringify({ port, caPem })}\n`);
}
