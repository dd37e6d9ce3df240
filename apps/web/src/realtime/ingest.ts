import { timingSafeEqual } from "node:crypto";
import {
  decodeIngestBatch,
  INGEST_NAMESPACE,
  type IngestAck,
  type IngestBatch,
  type IngestClientToServerEvents,
  type IngestServerToClientEvents,
  PROTOCOL_VERSION,
} from "@apisnoop/protocol";
import type { Namespace, Server } from "socket.io";

export interface IngestDeps {
  /** The shared secret proxies present as `auth.token`; null refuses every connection. */
  token: string | null;
  /**
   * Stores a batch in one transaction; resolves after commit. Idempotent by batch id. An error named
   * InvalidBatchError means the batch can never be stored; any other error is worth a retry.
   */
  recordBatch: (batch: IngestBatch) => Promise<{ duplicate: boolean }>;
  /** Called after a new (not duplicate) batch committed, with when it was received. */
  onCommitted?: (batch: IngestBatch, receivedAt: number) => void;
  /** Operational messages; never given tokens, headers or batch contents. */
  log?: (line: string) => void;
}

/**
 * The ingest namespace: proxies connect with `auth: { token, proxyId, protocol }` and emit `batch` with an
 * ack. A batch is validated, stored, and acknowledged only after its transaction committed, so a proxy may
 * drop its spooled copy on `ok: true`. Storage failures answer `retry: true`; malformed batches `retry: false`.
 */
export function setupIngest(io: Server, deps: IngestDeps): void {
  // Server generics type only the main namespace; each namespace has its own event maps.
  const namespace = io.of(INGEST_NAMESPACE) as unknown as Namespace<
    IngestClientToServerEvents,
    IngestServerToClientEvents
  >;
  const log = deps.log ?? (() => {});
  const expected = deps.token ? Buffer.from(deps.token) : null;

  namespace.use((socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    if (!expected) return next(new Error("ingest is disabled: the web app has no APISNOOP_INGEST_TOKEN"));
    if (!tokenMatches(expected, auth.token)) return next(new Error("invalid ingest token"));
    if (auth.protocol !== undefined && auth.protocol !== PROTOCOL_VERSION) {
      return next(
        new Error(
          `protocol ${String(auth.protocol)} not supported (this web app speaks ${PROTOCOL_VERSION})`,
        ),
      );
    }
    next();
  });

  namespace.on("connection", (socket) => {
    const proxyId = String((socket.handshake.auth as Record<string, unknown>).proxyId ?? "unnamed").slice(
      0,
      128,
    );
    log(`ingest: proxy ${proxyId} connected`);
    socket.on("disconnect", (reason) => log(`ingest: proxy ${proxyId} disconnected (${reason})`));
    socket.on("batch", async (input, ack) => {
      const reply = typeof ack === "function" ? ack : () => {};
      const receivedAt = Date.now();
      const decoded = decodeIngestBatch(input);
      if (!decoded.ok) {
        reply({ ok: false, batchId: batchIdOf(input), error: decoded.error, retry: false });
        return;
      }
      const { batch } = decoded;
      let answer: IngestAck;
      try {
        const { duplicate } = await deps.recordBatch(batch);
        answer = { ok: true, batchId: batch.batchId, duplicate };
      } catch (error) {
        // Some driver errors carry no message; the log line still says what failed.
        const message = (error as Error).message || `${(error as Error).name ?? "error"} without a message`;
        log(`ingest: batch ${batch.batchId} from ${proxyId} not stored: ${message}`);
        // The database refuses this batch for good (e.g. a time bucket out of range): retrying cannot help.
        answer =
          (error as Error).name === "InvalidBatchError"
            ? { ok: false, batchId: batch.batchId, error: message, retry: false }
            : { ok: false, batchId: batch.batchId, error: "storage unavailable", retry: true };
      }
      reply(answer);
      if (answer.ok && !answer.duplicate) {
        try {
          deps.onCommitted?.(batch, receivedAt);
        } catch (error) {
          log(`ingest: live fan-out failed: ${(error as Error).message}`);
        }
      }
    });
  });
}

/** Constant-time comparison, so the token cannot be guessed byte by byte from timings. */
function tokenMatches(expected: Buffer, given: unknown): boolean {
  if (typeof given !== "string") return false;
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function batchIdOf(input: unknown): string | null {
  const id = (input as { batchId?: unknown } | null)?.batchId;
  return typeof id === "string" ? id.slice(0, 64) : null;
}
