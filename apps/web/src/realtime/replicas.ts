import { parseLsn } from "@apisnoop/db/lsn";
import { createAdapter } from "@socket.io/postgres-adapter";
import pg from "pg";
import type { Server } from "socket.io";
import type { CommittedHits } from "./live-hub";

/** The server-side event that carries one replica's committed hits to the others. */
const COMMITTED = "committed";

/**
 * The table the adapter keeps messages over PostgreSQL's 8,000-byte NOTIFY limit in (a migration creates
 * it, quoted as Prisma names it); the adapter deletes rows older than its cleanup interval.
 */
const ATTACHMENT_TABLE = `"LiveAttachment"`;

export interface ReplicaOptions {
  /** The database every replica stores in; its LISTEN/NOTIFY carries messages between them. */
  databaseUrl: string;
  /** Shown in pg_stat_activity, to tell replicas' connections apart. */
  applicationName: string;
  /**
   * The WAL position after this replica's latest commit, sent along with its hits so the others' views
   * wait for a read replica to replay it (null: none known; they then ask the database).
   */
  commitFence?: () => string | null;
  /** Hits another replica committed (and its commit's WAL position): hand them to live subscribers. */
  onRemoteCommit: (committed: CommittedHits, fence: string | null) => void;
  log: (line: string) => void;
}

/** This replica's link to the others. */
export interface ReplicaLink {
  /** Tells every other replica about hits this one committed. */
  publish(committed: CommittedHits): void;
  /** Ends the link's own connections (after `io.close()`, which closes the adapters). */
  close(): Promise<void>;
}

/**
 * Lets any number of web processes on one database serve as one dashboard: Socket.IO's PostgreSQL adapter
 * (LISTEN/NOTIFY, no other service) joins their Socket.IO servers, and each replica sends what it committed
 * to the others, so a browser on any replica sees hits that any replica stored, and a proxy may send to
 * any replica. Only committed hits travel: every replica stores its own batches in the shared database.
 * Without the database the link is down (logged) and each replica serves its own subscribers only.
 */
export function setupReplicas(io: Server, options: ReplicaOptions): ReplicaLink {
  // Two connections: the adapter holds one for LISTEN, the other sends NOTIFYs and attachments.
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: 2,
    application_name: options.applicationName,
    // What this pool writes is transient: attachment rows the other replicas read within moments and the
    // adapter deletes after 30 s. A commit need not wait for the WAL's fsync, which a busy ingest's own
    // commits make slow; a crash can lose only live messages of its last moments, never a stored hit
    // (those are committed on the app's own connections, synchronously).
    options: "-c synchronous_commit=off",
  });
  let lastError = "";
  const reportError = (error: Error) => {
    // A database outage would repeat one message per heartbeat and namespace: say it once.
    if (error.message === lastError) return;
    lastError = error.message;
    options.log(`replicas: ${error.message}`);
  };
  // An idle connection that breaks emits on the pool: unhandled, that would end the process.
  pool.on("error", reportError);
  io.adapter(createAdapter(pool, { tableName: ATTACHMENT_TABLE, errorHandler: reportError }));
  const events = io as unknown as {
    on(event: string, listener: (committed: CommittedHits, fence?: unknown) => void): void;
    serverSideEmit(event: string, committed: CommittedHits, fence: string | null): void;
  };
  events.on(COMMITTED, (committed, fence) => {
    try {
      // From another replica of ours, over the database; still only a well-formed position is used.
      options.onRemoteCommit(committed, typeof fence === "string" && isLsn(fence) ? fence : null);
    } catch (error) {
      reportError(error as Error);
    }
  });
  return {
    publish(committed) {
      try {
        events.serverSideEmit(COMMITTED, committed, options.commitFence?.() ?? null);
      } catch (error) {
        reportError(error as Error);
      }
    },
    close: () => pool.end(),
  };
}

/** Whether `text` is a WAL position as PostgreSQL prints it. */
function isLsn(text: string): boolean {
  try {
    parseLsn(text);
    return true;
  } catch {
    return false;
  }
}
