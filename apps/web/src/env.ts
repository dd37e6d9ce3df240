import { DEFAULT_READ_REPLICA_WAIT_MS } from "@apisnoop/db";
import { isReleaseName } from "@apisnoop/openapi";
import { LIVE_MAX_DELTAS_PER_SECOND } from "@apisnoop/protocol";
import { z } from "zod";

/**
 * Every setting of the dashboard, read from the environment once, here and nowhere else (GUIDE §6).
 * Unset or empty values take the defaults; a malformed one stops the start with a one-line message.
 */
const EnvSchema = z.object({
  /** Port of the one HTTP server (pages, HTTP API, Socket.IO). 0 picks a free port (tests). */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Address to listen on; loopback unless you mean to expose the dashboard. */
  HOST: z.string().min(1).default("127.0.0.1"),
  /** Any PostgreSQL; without it an embedded PostgreSQL runs under APISNOOP_DATA_DIR. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /**
   * A streaming read replica of DATABASE_URL's server (e.g. made with `pg_basebackup -R`; one standby, not
   * a balancer over several): the views and the HTTP API read there once it has replayed the last commit;
   * ingest, migrations, retention and the replicas' adapter stay on DATABASE_URL. A replica that is down, lagging or not a standby falls back to
   * DATABASE_URL with one line in the log. Unset: everything on DATABASE_URL.
   */
  DATABASE_READ_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /**
   * Milliseconds a view waits for the read replica to replay the last commit before DATABASE_URL answers
   * it instead; a view never shows data older than the last commit. While the replica lags, views do not
   * wait again until it has caught up.
   */
  APISNOOP_READ_REPLICA_WAIT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(DEFAULT_READ_REPLICA_WAIT_MS),
  /** Data directory of the embedded PostgreSQL (default `.apisnoop/` beside the checkout). */
  APISNOOP_DATA_DIR: z.string().min(1).optional(),
  /**
   * With it, viewers sign in: HTTP basic auth as APISNOOP_DASHBOARD_USER with this password, or the
   * password as a bearer token. Without it anyone who reaches HOST:PORT sees the dashboard.
   */
  APISNOOP_DASHBOARD_PASSWORD: z.string().min(12, "must be at least 12 characters").optional(),
  /** The user name of basic auth. */
  APISNOOP_DASHBOARD_USER: z
    .string()
    .min(1)
    .regex(/^[^:]+$/, "must not contain ':'")
    .default("apisnoop"),
  /** Shared secret proxies present to the ingest namespace; without it ingest is refused. */
  APISNOOP_INGEST_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  /**
   * A folder laid out like `../shared/k8s` (openapi/v1.NN.swagger.json.gz, apisnoop/1.NN.0.json.gz,
   * apisnoop/ineligible_endpoints.json) to read reference releases from instead of downloading them.
   */
  APISNOOP_REFERENCE_DIR: z.string().min(1).optional(),
  /**
   * Pages receiving live updates at once. Each committed batch is matched against every viewer's filters
   * on the event loop; more viewers are told the dashboard is busy and try again every 30 s.
   */
  APISNOOP_LIVE_MAX_VIEWERS: z.coerce.number().int().min(1).max(100_000).default(256),
  /**
   * Deltas a live page receives per second at most; hits in between coalesce. Fewer: less work per viewer
   * for this process and each browser, but a hit waits longer for its slot (up to a second at 1).
   */
  APISNOOP_LIVE_DELTAS_PER_SECOND: z.coerce.number().int().min(1).max(60).default(LIVE_MAX_DELTAS_PER_SECOND),
  /**
   * Published releases to load at start besides the cluster's ("1.36" or "1.34,1.36"); the default, the
   * latest two, lets `/compare` compare at once.
   */
  APISNOOP_RELEASES: z
    .string()
    .refine((list) => list.split(",").every(isReleaseName), "must look like 1.36 or 1.34,1.36")
    .default("1.35,1.36"),
  /** Kubeconfig of the cluster `npm start` puts the proxy in front of (default ~/.kube/config). */
  KUBECONFIG: z.string().min(1).optional(),
  /** Its context (default: the kubeconfig's current context). */
  APISNOOP_CONTEXT: z.string().min(1).optional(),
  /** Where `npm start` runs the proxy (both modes on one port). */
  APISNOOP_PROXY_LISTEN: z
    .string()
    .regex(/^.*:\d{1,5}$/, "must be host:port")
    .default("127.0.0.1:8443"),
  /**
   * Import apisnoop's published upstream e2e coverage of the loaded releases at start, in the background
   * (once: later starts find it imported), as the source upstream-e2e. `0` leaves it to
   * `apisnoop import apisnoop`.
   */
  APISNOOP_UPSTREAM_IMPORT: z
    .enum(["0", "1", "true", "false"])
    .default("1")
    .transform((value) => value === "1" || value === "true"),
  /**
   * Days minute rollups are kept (windows older than that are answered by the hour); dropped a UTC day's
   * partition at a time. Day rollups and all-time totals are kept for good.
   */
  APISNOOP_MINUTE_ROLLUP_DAYS: z.coerce.number().int().min(1).max(36_500).default(30),
  /** Days hour rollups and field counts are kept (older windows are answered by the UTC day). */
  APISNOOP_HOUR_ROLLUP_DAYS: z.coerce.number().int().min(1).max(36_500).default(400),
  /** Where downloaded specs and coverage files are cached. */
  APISNOOP_CACHE_DIR: z.string().min(1).optional(),
  /** Print PostgreSQL's log and stack traces. */
  APISNOOP_DEBUG: z
    .enum(["0", "1", "true", "false"])
    .optional()
    .transform((value) => value === "1" || value === "true"),
  /** `development` runs Next in dev mode (hot reload); anything else serves the production build. */
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
});

export type DashboardEnv = z.infer<typeof EnvSchema>;

const CheckedEnvSchema = EnvSchema.refine(
  (env) => env.APISNOOP_HOUR_ROLLUP_DAYS >= env.APISNOOP_MINUTE_ROLLUP_DAYS,
  { message: "must be at least APISNOOP_MINUTE_ROLLUP_DAYS", path: ["APISNOOP_HOUR_ROLLUP_DAYS"] },
);

/** Parses and checks the dashboard's settings; throws one line naming the bad variable. */
export function readEnv(source: Record<string, string | undefined> = process.env): DashboardEnv {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ""));
  const parsed = CheckedEnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`bad setting ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return parsed.data;
}
