/** The webhook's process: settings from the environment, in-cluster credentials, serve until SIGTERM. */
import { KubeConfig } from "@kubernetes/client-node";
import { caBundle, kubeCaBundlePublisher } from "./ca-bundle";
import { keepRedirectTarget } from "./redirect-target";
import { readWebhookEnv } from "./webhook-env";
import { startWebhookServer } from "./webhook-server";

const env = readWebhookEnv();
const log = (line: string) => process.stderr.write(`apisnoop webhook: ${line}\n`);
const kubeConfig = new KubeConfig();
try {
  kubeConfig.loadFromDefault();
} catch (error) {
  // js-yaml's message quotes the lines around a syntax error (a token, a client key): say where, not what.
  const mark = (error as { mark?: { line?: unknown } }).mark;
  log(
    typeof mark?.line === "number"
      ? `cannot load kubeconfig: a YAML syntax error at line ${mark.line + 1}`
      : `cannot load kubeconfig: ${((error as Error).message ?? "").split("\n")[0]}`,
  );
  process.exit(1);
}
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
