import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase } from "@apisnoop/db";
import { openTestDatabase } from "@apisnoop/db/testing";
import { SHARED_K8S } from "@apisnoop/openapi/testing";
import {
  type IngestAck,
  type IngestBatch,
  ingestConnection,
  PROTOCOL_VERSION,
  type Source,
  type StatusClass,
} from "@apisnoop/protocol";
import { io, type Socket } from "socket.io-client";
import { readEnv } from "../env";
import { type RunningWebApp, startWebApp } from "../server/web-app";

/** A running dashboard on a fresh database with the shared reference releases, and an ingest client. */
export interface TestStack {
  url: string;
  app: RunningWebApp;
  token: string;
  /** Sends a batch on the ingest namespace and resolves with its ack (after commit). */
  ingest(batch: IngestBatch): Promise<IngestAck>;
  close(): Promise<void>;
}

/**
 * Starts the web app as `npm start` does, but on a throw-away database (a scratch database on
 * DATABASE_URL's server, else an embedded PostgreSQL in a temporary directory), a free port, and the
 * releases of `../shared/k8s`; `settings` are further variables of `env.ts` (upstream e2e's coverage is
 * imported only with `APISNOOP_UPSTREAM_IMPORT: "1"`). Needs a current production build (the stack
 * project's global setup). With `options.databaseUrl`, the stack uses that database instead (migrated on
 * open, kept on close): a benchmark's seeded copy; `options.log` receives the app's log lines.
 */
export async function startTestStack(
  releases = "1.34",
  settings: Record<string, string> = {},
  options: { databaseUrl?: string; log?: (line: string) => void } = {},
): Promise<TestStack> {
  const token = randomBytes(16).toString("hex");
  const cacheDir = mkdtempSync(path.join(tmpdir(), "apisnoop-web-cache-"));
  const database = options.databaseUrl
    ? await openDatabase({ databaseUrl: options.databaseUrl })
    : await openTestDatabase();
  const env = readEnv({
    PORT: "0",
    HOST: "127.0.0.1",
    APISNOOP_REFERENCE_DIR: SHARED_K8S,
    APISNOOP_RELEASES: releases,
    // Tests store exactly the hits they assert on; upstream e2e only when a test asks for it.
    APISNOOP_UPSTREAM_IMPORT: "0",
    APISNOOP_CACHE_DIR: cacheDir,
    NODE_ENV: "production",
    ...settings,
  });
  const app = await startWebApp({
    env,
    cluster: null,
    ingestToken: token,
    database,
    log: options.log ?? (() => {}),
  });
  const connection = ingestConnection(app.url, { token, proxyId: "test-stack" });
  const socket: Socket = io(connection.url, connection.options);
  return {
    url: app.url,
    app,
    token,
    ingest: (batch) => socket.timeout(30_000).emitWithAck("batch", batch) as Promise<IngestAck>,
    async close() {
      socket.disconnect();
      await app.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

/** One hit row for `hitBatch`: [source index, operationId, count, status class?]. */
export type HitSpec = [source: number, operationId: string, count: number, statusClass?: StatusClass];

/** A batch of hits in the current minute, from `sources`, for release `release`. */
export function hitBatch(sources: Source[], hits: HitSpec[], release: string | null = "1.34"): IngestBatch {
  const minute = Math.floor(Date.now() / 60_000);
  return {
    protocol: PROTOCOL_VERSION,
    batchId: randomUUID(),
    proxyId: "test-stack",
    release,
    sentAt: Date.now(),
    sources,
    hits: hits.map(([source, operationId, count, statusClass = "2xx"]) => ({
      source,
      operationId,
      method: "GET",
      statusClass,
      minute,
      count,
      details: {},
    })),
    unknownCalls: [],
    fields: [],
  };
}
