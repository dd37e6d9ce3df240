import { timingSafeEqual } from "node:crypto";
import { type Server as HttpServer, type IncomingMessage, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { InvalidBatchError } from "@apisnoop/db/errors";
import {
  decodeIngestBatch,
  INGEST_MAX_MESSAGE_BYTES,
  INGEST_NAMESPACE,
  INGEST_PATH,
  type IngestAck,
  type IngestBatch,
  type IngestClientToServerEvents,
  type IngestServerToClientEvents,
  PROTOCOL_VERSION,
} from "@apisnoop/protocol";
import { Server as EngineServer } from "engine.io";
import { type Namespace, Server } from "socket.io";

/** The ingest server, closed with the app. */
export interface RunningIngest {
  /** Disconnects every proxy and stops answering upgrades. */
  close(): Promise<void>;
}

export interface IngestDeps {
  /** The shared secret proxies present as a bearer token; null refuses every connection. */
  token: string | null;
  /**
   * Stores a batch in one transaction; resolves after commit with the Kubernetes release its hits were
   * stored under. Idempotent by batch id. An error named InvalidBatchError means the batch can never be
   * stored; any other error is worth a retry.
   */
  recordBatch: (batch: IngestBatch) => Promise<{ duplicate: boolean; release: string }>;
  /** Called after a new (not duplicate) batch committed: the release it was stored under, when it came. */
  onCommitted?: (batch: IngestBatch, release: string, receivedAt: number) => void;
  /** Operational messages; never given tokens, headers or batch contents. */
  log?: (line: string) => void;
}

/**
 * The ingest: a Socket.IO server of its own at `INGEST_PATH` on `httpServer`, WebSocket only, whose
 * 64 MiB message limit is reachable only with the token — checked on the upgrade request (bearer token),
 * before the WebSocket exists, so an unauthenticated client can send nothing at all. Proxies then emit
 * `batch` with an ack on the ingest namespace. A batch is validated, stored, and acknowledged only after
 * its transaction committed, so a proxy may drop its spooled copy on `ok: true`. Storage failures answer
 * `retry: true`; malformed batches `retry: false`.
 */
export function setupIngest(httpServer: HttpServer, deps: IngestDeps): RunningIngest {
  const log = deps.log ?? (() => {});
  const expected = deps.token ? Buffer.from(deps.token) : null;
  const refusal = (request: IncomingMessage): string | null => {
    if (!expected) return "ingest is disabled: the web app has no APISNOOP_INGEST_TOKEN";
    const header = request.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : null;
    return tokenMatches(expected, token) ? null : "invalid ingest token";
  };
  // Not attached to httpServer: the upgrade listener below routes INGEST_PATH here after the token check.
  const engine = new EngineServer({
    transports: ["websocket"],
    maxHttpBufferSize: INGEST_MAX_MESSAGE_BYTES,
    allowRequest: (request, callback) => {
      const why = refusal(request);
      callback(why, why === null);
    },
  });
  const io = new Server({ serveClient: false });
  io.bind(engine);
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!request.url?.startsWith(INGEST_PATH)) return;
    const why = refusal(request);
    if (why) refuseUpgrade(socket, 401, why);
    else engine.handleUpgrade(request, socket, head);
  };
  httpServer.on("upgrade", onUpgrade);
  // Server generics type only the main namespace; each namespace has its own event maps.
  const namespace = io.of(INGEST_NAMESPACE) as unknown as Namespace<
    IngestClientToServerEvents,
    IngestServerToClientEvents
  >;

  namespace.use((socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
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
      let release = "";
      try {
        const stored = await deps.recordBatch(batch);
        release = stored.release;
        answer = { ok: true, batchId: batch.batchId, duplicate: stored.duplicate };
      } catch (error) {
        // Some driver errors carry no message; the log line still says what failed.
        const message = (error as Error).message || `${(error as Error).name ?? "error"} without a message`;
        log(`ingest: batch ${batch.batchId} from ${proxyId} not stored: ${message}`);
        // The database refuses this batch for good (e.g. a time bucket out of range): retrying cannot help.
        answer =
          error instanceof InvalidBatchError
            ? { ok: false, batchId: batch.batchId, error: message, retry: false }
            : { ok: false, batchId: batch.batchId, error: "storage unavailable", retry: true };
      }
      reply(answer);
      if (answer.ok && !answer.duplicate) {
        try {
          deps.onCommitted?.(batch, release, receivedAt);
        } catch (error) {
          log(`ingest: live fan-out failed: ${(error as Error).message}`);
        }
      }
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.off("upgrade", onUpgrade);
        io.disconnectSockets(true);
        io.close(() => resolve());
      }),
  };
}

/** Answers an upgrade request with an HTTP error and closes the connection. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  socket.on("error", () => {});
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nconnection: close\r\n` +
      `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(message)}\r\n\r\n${message}`,
  );
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
