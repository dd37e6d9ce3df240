import { z } from "zod";
import type { Hit } from "./hit";
import { SourceSchema } from "./source";
import { text } from "./text";

/** Bumped on any incompatible change of the ingest schemas; the web app refuses other versions. */
export const PROTOCOL_VERSION = 1;

/** Status classes a hit is counted under; "error" means no response came back (upstream failure). */
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx", "error"] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** The status class of an HTTP status, or "error" when there was none. */
export function statusClassOf(status: number | null): StatusClass {
  if (status === null || status < 100 || status > 599) return "error";
  return `${Math.floor(status / 100)}xx` as StatusClass;
}

const count = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const sourceIndex = z.number().int().nonnegative();
/** Epoch minutes (hits) or epoch hours (fields): the time bucket of a rollup row. */
const bucket = z.number().int().nonnegative();

/**
 * Hits of one endpoint by one source with one status class within one minute. `details` counts the facts
 * that matter for coverage: "watch", "dryRun", "deprecated watch path", "patch:<type>", "protobuf", ...
 */
export const HitRollupSchema = z.object({
  source: sourceIndex,
  operationId: text(256, 1),
  method: text(16, 1),
  statusClass: z.enum(STATUS_CLASSES),
  minute: bucket,
  count,
  details: z.record(text(128), count).default({}),
});
export type HitRollup = z.infer<typeof HitRollupSchema>;

/** Calls that matched no endpoint, with an example path (never a query string or a header). */
export const UnknownCallSchema = z.object({
  source: sourceIndex,
  method: text(16, 1),
  path: text(2048),
  reason: text(128),
  statusClass: z.enum(STATUS_CLASSES),
  minute: bucket,
  count,
});
export type UnknownCall = z.infer<typeof UnknownCallSchema>;

/** Uses of one field path (GUIDE §3) of one endpoint's request or response body, per hour. */
export const FieldCountSchema = z.object({
  source: sourceIndex,
  operationId: text(256, 1),
  direction: z.enum(["request", "response"]),
  field: text(2048, 1),
  /** The field is not in the schema. */
  unknown: z.boolean(),
  hour: bucket,
  count,
});
export type FieldCount = z.infer<typeof FieldCountSchema>;

/**
 * One batch of pre-aggregated hits from a proxy. `batchId` makes delivery idempotent: the web app stores a
 * batch once, however often it is replayed.
 */
export const IngestBatchSchema = z.object({
  protocol: z.literal(PROTOCOL_VERSION),
  batchId: z.uuid(),
  proxyId: text(128, 1),
  /** Release of the spec the proxy matched against ("1.34"), when known. */
  release: text(32).nullable(),
  sentAt: z.number().int().nonnegative(),
  sources: z.array(SourceSchema).max(100_000),
  hits: z.array(HitRollupSchema).max(1_000_000),
  unknownCalls: z.array(UnknownCallSchema).max(1_000_000).default([]),
  fields: z.array(FieldCountSchema).max(1_000_000).default([]),
});
export type IngestBatch = z.infer<typeof IngestBatchSchema>;

/** The web app's answer to a batch, sent only after the batch's transaction committed (or failed). */
export type IngestAck =
  | { ok: true; batchId: string; duplicate: boolean }
  | { ok: false; batchId: string | null; error: string; retry: boolean };

/**
 * Validates a batch as received; source indexes must point into `sources`. Returns the batch or a one-line
 * error, never throws.
 */
export function decodeIngestBatch(
  input: unknown,
): { ok: true; batch: IngestBatch } | { ok: false; error: string } {
  const parsed = IngestBatchSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // The path holds the sender's own keys (`details` is a record): keep the line one line, and short.
    const where = oneLine(issue?.path.map(String).join(".") || "(root)");
    return { ok: false, error: `invalid batch: ${where}: ${oneLine(issue?.message ?? "invalid")}` };
  }
  const batch = parsed.data;
  const sources = batch.sources.length;
  for (const rows of [batch.hits, batch.unknownCalls, batch.fields]) {
    for (const row of rows) {
      if (row.source >= sources)
        return { ok: false, error: `invalid batch: source index ${row.source} out of range` };
    }
  }
  return { ok: true, batch };
}

/** The latest time a rollup row may hold: the database stores minutes up to the end of year 9999. */
const LATEST_AT = Date.UTC(10000, 0, 1) - 1;

/**
 * What would make the rows of `hit` invalid in a batch (the schemas above), as one short line, or null.
 * An importer checks each record with it, so one bad record is reported with its line instead of
 * failing the batch it would join after earlier batches were stored.
 */
export function hitProblem(hit: Hit): string | null {
  if (!Number.isFinite(hit.at) || hit.at < 0 || hit.at > LATEST_AT) return "time out of range";
  const source = SourceSchema.safeParse(hit.source);
  if (!source.success) return problemOf("source", source.error.issues);
  const details: Record<string, number> = {};
  for (const detail of hit.details ?? []) details[detail] = 1;
  const row =
    hit.operationId === null
      ? UnknownCallSchema.safeParse({
          source: 0,
          method: hit.method,
          path: hit.path.slice(0, 2048),
          reason: hit.reason ?? "unknown",
          statusClass: "2xx",
          minute: 0,
          count: 1,
        })
      : HitRollupSchema.safeParse({
          source: 0,
          operationId: hit.operationId,
          method: hit.method,
          statusClass: "2xx",
          minute: 0,
          count: 1,
          details,
        });
  if (!row.success) return problemOf("", row.error.issues);
  for (const body of [hit.requestFields, hit.responseFields]) {
    for (const field of body?.fields ?? []) {
      const parsed = FieldCountSchema.shape.field.safeParse(field);
      if (!parsed.success) return problemOf("field", parsed.error.issues);
    }
  }
  return null;
}

function problemOf(prefix: string, issues: readonly { path: readonly PropertyKey[]; message: string }[]) {
  const issue = issues[0];
  const where = [prefix, ...(issue?.path.map(String) ?? [])].filter(Boolean).join(".") || "(root)";
  return `${oneLine(where)}: ${oneLine(issue?.message ?? "invalid")}`;
}

/** Control characters and line separators as spaces, cut to 200 characters. */
function oneLine(text: string): string {
  const flat = text.replace(/[\p{Cc}\u2028\u2029]+/gu, " ");
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/** Socket.IO handshake `auth` of the ingest namespace (the token travels in the upgrade request instead). */
export interface IngestAuth {
  proxyId: string;
  protocol: number;
}

/** Events the proxy sends on the ingest namespace. */
export interface IngestClientToServerEvents {
  batch: (batch: IngestBatch, ack: (result: IngestAck) => void) => void;
}

/** Events the web app sends on the ingest namespace (none yet). */
export type IngestServerToClientEvents = Record<string, never>;

/** The ingest namespace's path. */
export const INGEST_NAMESPACE = "/ingest";

/**
 * The ingest's Socket.IO path: an engine of its own beside the browsers' `/socket.io/`, so its large frame
 * limit is reachable only with the token, which is checked on the WebSocket upgrade before any frame.
 */
export const INGEST_PATH = "/ingest/socket.io/";

/** The largest ingest message the web app reads (64 MiB); a proxy's batches stay well below it. */
export const INGEST_MAX_MESSAGE_BYTES = 64 * 2 ** 20;

/**
 * Where and how a proxy (or an importer, or a test) connects to a web app's ingest namespace: the
 * namespace URL and the Socket.IO client options — WebSocket only, the token as a bearer token of the
 * upgrade request, the proxy's id and protocol version in the handshake's `auth`.
 */
export function ingestConnection(
  baseUrl: string,
  credentials: { token: string; proxyId: string },
): {
  url: string;
  options: {
    path: string;
    transports: string[];
    extraHeaders: Record<string, string>;
    auth: IngestAuth;
  };
} {
  return {
    url: `${baseUrl.replace(/\/$/, "")}${INGEST_NAMESPACE}`,
    options: {
      path: INGEST_PATH,
      transports: ["websocket"],
      extraHeaders: { authorization: `Bearer ${credentials.token}` },
      auth: { proxyId: credentials.proxyId, protocol: PROTOCOL_VERSION },
    },
  };
}
