import { readFileSync } from "node:fs";
import type { InjectionSettings } from "./pod-injection";

/** The webhook server's settings, as the chart passes them (templates/webhook.yaml). */
export interface WebhookEnv {
  host: string;
  port: number;
  cert: string;
  key: string;
  proxyCaPem: string;
  clusterCaPem: string;
  settings: InjectionSettings;
  /** How long a namespace's CA bundle, once checked, is trusted before the next admission reads it again. */
  caBundleCheckTtlMs: number;
}

const SERVICE_ACCOUNT_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/** Reads a required variable or stops with a one-line message naming it. */
function required(source: NodeJS.ProcessEnv, name: string): string {
  const value = source[name];
  if (!value) throw new Error(`bad setting ${name}: required`);
  return value;
}

/**
 * Reads the webhook's settings from the environment and the files it names.
 * @throws Error naming the first missing or malformed variable.
 */
export function readWebhookEnv(source: NodeJS.ProcessEnv = process.env): WebhookEnv {
  const listen = source.WEBHOOK_LISTEN ?? "0.0.0.0:9443";
  const match = /^(.*):(\d{1,5})$/.exec(listen);
  if (!match?.[1] || !match[2])
    throw new Error(`bad setting WEBHOOK_LISTEN: must be host:port, not '${listen}'`);
  const proxyPort = Number(source.APISNOOP_PROXY_PORT ?? "8443");
  if (!Number.isInteger(proxyPort) || proxyPort < 1 || proxyPort > 65535)
    throw new Error("bad setting APISNOOP_PROXY_PORT: must be a port number");
  const redirectImage = source.APISNOOP_REDIRECT_IMAGE;
  // The apiserver as the pods see it: the webhook's own pod is never mutated, so these are the kubelet's.
  const apiserverHost = source.KUBERNETES_SERVICE_HOST;
  const apiserverPort = source.KUBERNETES_SERVICE_PORT_HTTPS ?? source.KUBERNETES_SERVICE_PORT ?? "443";
  // Not a reason to stop the webhook: the environment route still works; the redirect says why it is off.
  const unavailable = !apiserverHost
    ? "the webhook's pod has no KUBERNETES_SERVICE_HOST, so the apiserver's ClusterIP is unknown"
    : apiserverHost.includes(":")
      ? `the apiserver's ClusterIP ${apiserverHost} is IPv6, and the redirect route handles IPv4 only`
      : undefined;
  const ttlSeconds = Number(source.APISNOOP_CA_BUNDLE_CHECK_SECONDS ?? "5");
  if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > 3600)
    throw new Error("bad setting APISNOOP_CA_BUNDLE_CHECK_SECONDS: must be seconds between 0 and 3600");
  return {
    host: match[1],
    port: Number(match[2]),
    cert: readFileSync(required(source, "WEBHOOK_TLS_CERT"), "utf8"),
    key: readFileSync(required(source, "WEBHOOK_TLS_KEY"), "utf8"),
    proxyCaPem: readFileSync(required(source, "APISNOOP_PROXY_CA"), "utf8"),
    clusterCaPem: readFileSync(source.APISNOOP_CLUSTER_CA ?? SERVICE_ACCOUNT_CA, "utf8"),
    settings: {
      proxyHost: required(source, "APISNOOP_PROXY_HOST"),
      proxyPort,
      caBundleConfigMap: source.APISNOOP_CA_BUNDLE_CONFIGMAP ?? "apisnoop-ca-bundle",
      ...(redirectImage && {
        redirect: {
          image: redirectImage,
          ...(source.APISNOOP_REDIRECT_PULL_POLICY && { pullPolicy: source.APISNOOP_REDIRECT_PULL_POLICY }),
          apiserver: `${apiserverHost}:${apiserverPort}`,
          // Resolved from the proxy Service's name by the running webhook (keepRedirectTarget).
          proxy: null,
          ...(unavailable && { unavailable }),
        },
      }),
    },
    caBundleCheckTtlMs: ttlSeconds * 1000,
  };
}
