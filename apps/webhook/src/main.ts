/** The webhook's process: settings from the environment, in-cluster credentials, serve until SIGTERM. */
import { KubeConfig } from "@kubernetes/client-node";
import { caBundle, kubeCaBundlePublisher } from "./ca-bundle";
import { keepRedirectTarget } from "./redirect-target";
import { readWebhookEnv } from "./webhook-env";
import { startWebhookServer } from "./webhook-server";

const env = readWebhookEnv();
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const log = (line: string) => process.stderr.write(`apisnoop webhook: ${line}\n`);
const publisher = kubeCaBundlePublisher(
  kubeConfig,
  env.settings.caBundleConfigMap,
  caBundle(env.clusterCaPem, env.proxyCaPem),
  { checkTtlMs: env.caBundleCheckTtlMs, log },
);
const stopRedirectTarget = await keepRedirectTarget(env.settings, { log });
const server = await startWebhookServer({
  host: env.host,
  port: env.port,
  cert: env.cert,
  key: env.key,
  settings: env.settings,
  publisher,
  log,
});
log(
  `listening on ${server.url}, routing opted-in pods to ${env.settings.proxyHost}:${env.settings.proxyPort}`,
);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}, shutting down`);
    publisher.close?.();
    stopRedirectTarget();
    void server.close();
  });
}
