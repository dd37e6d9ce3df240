/**
 * The dashboard's server: `tsx apps/web/server.ts` (or `npm start -w apps/web`). Serves the production
 * build (`next build` first) unless NODE_ENV=development. For the whole stack with the proxy and an
 * embedded database, use the repository's `npm start`.
 */
import { readEnv } from "./src/env";
import { endOnSignals } from "./src/server/signals";
import { startWebApp } from "./src/server/web-app";

const log = (line: string) => process.stderr.write(`apisnoop web: ${line}\n`);
const ending = endOnSignals(log);

try {
  const env = readEnv();
  const app = await startWebApp({ env, cluster: null, log });
  log(`releases: ${app.releases.map((r) => `${r.release} (${r.endpoints} endpoints)`).join(", ")}`);
  log(`serving ${app.url}${env.APISNOOP_INGEST_TOKEN ? "" : " (ingest disabled: no APISNOOP_INGEST_TOKEN)"}`);
  if (!env.APISNOOP_DASHBOARD_PASSWORD && !isLoopback(env.HOST)) {
    log(
      `the dashboard is open to anyone who reaches ${env.HOST}:${app.dashboard.port}: set APISNOOP_DASHBOARD_PASSWORD, or put an authenticating proxy in front`,
    );
  }
  ending.started(async (signal) => {
    log(`${signal}, shutting down`);
    await app.close();
  });
} catch (error) {
  log((error as Error).message);
  process.exit(1);
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}
