import type pg from "pg";
import { createPrismaClient, type PrismaClient, poolOf } from "./client";
import { NotFoundError } from "./errors";
import { formatLsn, parseLsn } from "./lsn";

export { formatLsn, parseLsn } from "./lsn";

/** How long a read waits for the read replica to replay the last commit before it asks the primary. */
export const DEFAULT_READ_REPLICA_WAIT_MS = 250;

/**
 * How long a query on the read replica may take before the replica counts as down and the primary
 * answers instead: far more than any view takes, so only a replica that went silent reaches it.
 */
export const DEFAULT_READ_REPLICA_QUERY_TIMEOUT_MS = 30_000;

/** How long a read replica that failed is left alone before a read tries it again. */
const RETRY_DOWN_MS = 5_000;

/** How long a connection attempt to the read replica may take (a silent host must not hang a view). */
const CONNECT_TIMEOUT_MS = 2_000;

/** How long the replica may take to say how far it has replayed (a trivial query) before it is down. */
const REPLAY_TIMEOUT_MS = 2_000;

/** First and longest pause between two looks at the replica's replay position while a read waits. */
const FIRST_POLL_MS = 2;
const MAX_POLL_MS = 25;

/** How many of the replica's newest connections are remembered with the position they found. */
const OPENINGS_KEPT = 64;

/** Where a standby stands; NULL on a server that is not one. */
const REPLAY_QUERY = {
  text: "SELECT pg_last_wal_replay_lsn()::text AS lsn",
  query_timeout: REPLAY_TIMEOUT_MS,
} as pg.QueryConfig;

/** Where the reads of views go: the primary's client, or a read replica's when it has caught up. */
export interface DatabaseReads {
  /**
   * Runs `query` on the read replica when it has replayed every commit this process knows of, else (or
   * when the replica fails during the query) on the primary. Without a replica, on the primary.
   */
  read<T>(query: (db: PrismaClient) => Promise<T>): Promise<T>;
  /**
   * Notes a commit: reads that start afterwards wait for the replica to replay it. `fence` is the
   * primary's WAL position after that commit (another process's, from `fence()`); without one, the next
   * read asks the primary for its current position. Call before invalidating cached views.
   */
  committed(fence?: string | null): void;
  /**
   * Notes a commit this process just made, asking the primary for its WAL position now (a round trip,
   * only with a replica): what `fence()` then hands to other web processes.
   */
  recordCommit(): Promise<void>;
  /**
   * The position that covers every commit noted here, as PostgreSQL prints an LSN; null while there is
   * none (a commit whose position could not be asked, or none yet): receivers then ask the primary.
   */
  fence(): string | null;
  /** Reads served by each side so far, and why the primary served them. */
  stats(): ReadStats;
  /** Ends the replica's connections (the primary's belong to its owner). */
  close(): Promise<void>;
}

/** What `DatabaseReads.stats` counts. */
export interface ReadStats {
  replica: number;
  /** Reads the primary served because the replica had not replayed the last commit within the wait. */
  fallbackLagging: number;
  /** Reads the primary served because the replica did not answer (or failed the query). */
  fallbackDown: number;
  /** Milliseconds reads spent finding out whether the replica had replayed the last commit, in all. */
  waitedMs: number;
}

/** Reads on the primary only: what a process without `DATABASE_READ_URL` uses. */
export function primaryReads(primary: PrismaClient): DatabaseReads {
  return {
    read: (query) => query(primary),
    committed() {},
    async recordCommit() {},
    fence: () => null,
    stats: () => ({ replica: 0, fallbackLagging: 0, fallbackDown: 0, waitedMs: 0 }),
    async close() {},
  };
}

/** How `readReplica` reaches its replica and how long it waits for it. */
export interface ReadReplicaOptions {
  /** The primary: every write, and the reads the replica cannot serve. */
  primary: PrismaClient;
  /** A streaming (physical) standby of the primary, e.g. made with `pg_basebackup -R`. */
  readUrl: string;
  /** Names the replica's connections in its pg_stat_activity. */
  applicationName?: string;
  /** The longest a read waits for the replica to catch up (default `DEFAULT_READ_REPLICA_WAIT_MS`). */
  maxWaitMs?: number;
  /** How long a replica that failed is left alone (default 5 s). */
  retryDownMs?: number;
  /**
   * The longest a query on the replica may take before the replica counts as down and the primary
   * answers it (default `DEFAULT_READ_REPLICA_QUERY_TIMEOUT_MS`).
   */
  queryTimeoutMs?: number;
  /** Receives one line when the replica stops serving reads and one when it serves them again. */
  log: (line: string) => void;
}

/**
 * Reads from a streaming read replica without ever reading older data than the last commit this process
 * knows of: commits are noted with the primary's WAL insert position after them (`pg_current_wal_insert_lsn`,
 * which covers a commit record even under `synchronous_commit = off`), and a read goes to the replica
 * only once its `pg_last_wal_replay_lsn()` has reached that position, waiting at most `maxWaitMs` (the
 * look itself included); otherwise the primary answers. Each new connection to the replica first asks
 * where the standby behind it stands, so one that restarted older than it was is not trusted on the
 * strength of an earlier look. A replica that refuses connections, fails or does not answer a query, or
 * is not a standby at all falls back the same way, so it can slow a view by at most the wait, a
 * connection timeout or, once when it goes silent mid-query, `queryTimeoutMs`; never stop it. While the
 * replica lags, reads look once and do not wait again until it has caught up.
 */
export function readReplica(options: ReadReplicaOptions): DatabaseReads {
  const { primary, log } = options;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_READ_REPLICA_WAIT_MS;
  const stats: ReadStats = { replica: 0, fallbackLagging: 0, fallbackDown: 0, waitedMs: 0 };
  // The newest commit to wait for. Commits noted without a position (and the start: a replica hours
  // behind must not serve a freshly started process) bump `unknownCommits`; a read then asks the primary
  // for its position, which covers every commit up to the count it saw before asking.
  let fence = 0n;
  let unknownCommits = 1;
  let coveredCommits = 0;
  // The replica's replay position as last seen: reads at or below it need no round trip at all.
  let replayed = -1n;
  // Where the standby behind each new connection stood when it opened (-1: no standby), newest last, and
  // how many have opened: a query that ran on a connection opened after its read chose the replica is
  // trusted only if that connection found the standby at or past the read's commit. A standby that
  // restarted (unseen: the pool quietly replaces its dead idle connections) opens at its minimum
  // recovery point, not where it had replayed to, so it can come back older than `replayed`.
  const openedAt: bigint[] = [];
  let opened = 0;
  let downUntil = 0;
  // "lagging" or "down" while the primary serves the reads; logged once per change, with the count.
  let state: "serving" | "lagging" | "down" = "serving";
  let fallbacksInState = 0;
  let replayQuery: Promise<bigint | null | "failed"> | null = null;

  const replica = createPrismaClient(options.readUrl, options.applicationName, {
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    // A replica that stops answering mid-query (a host gone behind a network that drops packets, a hung
    // server) would otherwise hold a view until TCP gives up, about 15 minutes.
    queryTimeoutMs: options.queryTimeoutMs ?? DEFAULT_READ_REPLICA_QUERY_TIMEOUT_MS,
    keepAlive: true,
    async verify(client) {
      const result = await client.query<{ lsn: string | null }>(REPLAY_QUERY);
      const position = replayPosition(result.rows);
      // The newest connection speaks for the standby as it is now, even when that is behind an earlier look.
      replayed = position ?? -1n;
      openedAt.push(position ?? -1n);
      if (openedAt.length > OPENINGS_KEPT) openedAt.shift();
      opened++;
    },
  });

  // An idle connection that breaks (the standby restarting, say) is dropped by the pool, which then
  // emits it here: without a listener that would end the process, and the replay looks go to the pool
  // directly, before Prisma (which adds its own listener) has run a query there. The standby behind it
  // may be coming back older, so its position is looked up afresh.
  poolOf(replica).on("error", () => {
    replayed = -1n;
  });

  /** Whether a connection opened after the `since`-th reached a standby that had not replayed `target`. */
  const openedBehind = (since: number, target: bigint) => {
    const count = opened - since;
    if (count === 0) return false;
    return count > openedAt.length || openedAt.slice(-count).some((position) => position < target);
  };

  const enter = (next: typeof state, why: string) => {
    if (state === next) return;
    if (next === "serving") {
      log(`read replica: serving reads again (${fallbacksInState} reads fell back to DATABASE_URL)`);
    } else {
      log(`read replica: ${why}; reading from DATABASE_URL meanwhile`);
    }
    if (state === "serving" || next === "serving") fallbacksInState = 0;
    state = next;
  };

  // Never shared between callers: a query started before a commit would not cover it.
  const primaryFence = async () => {
    const rows = await primary.$queryRawUnsafe<Array<{ lsn: string }>>(
      "SELECT pg_current_wal_insert_lsn()::text AS lsn",
    );
    const current = parseLsn(rows[0]?.lsn ?? "0/0");
    if (current > fence) fence = current;
  };

  /** Asks the primary for a position that covers every commit noted so far; throws when it cannot. */
  const coverUnknownCommits = async () => {
    const seen = unknownCommits;
    await primaryFence();
    if (coveredCommits < seen) coveredCommits = seen;
  };

  const down = (error: unknown) => {
    // A standby that restarts may serve data older than it had replayed before (it starts again from its
    // last restartpoint): what it had replayed is looked up afresh.
    replayed = -1n;
    downUntil = Date.now() + (options.retryDownMs ?? RETRY_DOWN_MS);
    enter("down", `${oneLine(error)} (DATABASE_READ_URL)`);
  };

  /**
   * The replica's replay position (null: it is not a standby), one query at a time, shared. It may
   * outlast the reads that asked (they wait at most their time left); a failure, or no answer within
   * REPLAY_TIMEOUT_MS, marks the replica down.
   */
  const lookAtReplay = () => {
    replayQuery ??= poolOf(replica)
      .query<{ lsn: string | null }>(REPLAY_QUERY)
      .then((result) => {
        const position = replayPosition(result.rows);
        if (position !== null && position > replayed) replayed = position;
        return position;
      })
      .catch((error: unknown) => {
        down(error);
        return "failed" as const;
      })
      .finally(() => {
        replayQuery = null;
      });
    return replayQuery;
  };

  /** Whether the replica has replayed `target`, waiting for it (the looks included) at most `maxWaitMs`. */
  const caughtUp = async (target: bigint): Promise<"yes" | "lagging" | "not a standby" | "failed"> => {
    const deadline = performance.now() + maxWaitMs;
    // While the replica lags, one look (still bounded by the wait) and no polling.
    const polling = state !== "lagging";
    let pause = FIRST_POLL_MS;
    for (;;) {
      const position = await within(lookAtReplay(), deadline - performance.now());
      if (position === undefined) return "lagging"; // no answer within the wait
      if (position === "failed") return "failed";
      if (position === null) return "not a standby";
      if (replayed >= target) return "yes";
      const left = deadline - performance.now();
      if (!polling || left <= 0) return "lagging";
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
      pause = Math.min(pause * 2, MAX_POLL_MS);
    }
  };

  const onPrimary = <T>(query: (db: PrismaClient) => Promise<T>, why: "lagging" | "down") => {
    if (why === "lagging") stats.fallbackLagging++;
    else stats.fallbackDown++;
    fallbacksInState++;
    return query(primary);
  };

  const lagging = (why: string) => enter("lagging", why);

  return {
    async read<R>(query: (db: PrismaClient) => Promise<R>): Promise<R> {
      if (Date.now() < downUntil) return onPrimary(query, "down");
      try {
        if (coveredCommits < unknownCommits) await coverUnknownCommits();
      } catch {
        // The primary's own trouble: the query on it will say so.
        return query(primary);
      }
      const target = fence;
      if (replayed < target) {
        const started = performance.now();
        const answer = await caughtUp(target);
        stats.waitedMs += performance.now() - started;
        if (answer === "failed") return onPrimary(query, "down"); // lookAtReplay marked it down
        if (answer === "not a standby") {
          down(new Error("is not a standby in recovery, so its data cannot be checked against commits"));
          return onPrimary(query, "down");
        }
        if (answer === "lagging") {
          lagging(`has not replayed the last commit within ${maxWaitMs} ms`);
          return onPrimary(query, "lagging");
        }
      }
      const since = opened;
      let result: R;
      try {
        result = await query(replica);
      } catch (error) {
        if (openedBehind(since, target)) {
          lagging("came back behind the last commit (restarted?)");
          return onPrimary(query, "lagging");
        }
        if (error instanceof NotFoundError) throw error;
        // A query the primary would fail too fails there again; a replica that went away, or that
        // cancelled the query for a conflict with recovery, is covered by the primary.
        down(error);
        return onPrimary(query, "down");
      }
      if (openedBehind(since, target)) {
        // Part of the answer may come from a standby older than the commit: the primary answers again.
        lagging("came back behind the last commit (restarted?)");
        return onPrimary(query, "lagging");
      }
      stats.replica++;
      enter("serving", "");
      return result;
    },
    committed(position) {
      if (!position) {
        unknownCommits++;
        return;
      }
      const lsn = parseLsn(position);
      if (lsn > fence) fence = lsn;
    },
    async recordCommit() {
      // Asked before the caller invalidates its views, so no read after that can miss this commit. Never
      // throws: the batch is stored, and a failed ack would only make its sender resend it as a duplicate.
      try {
        await coverUnknownCommits();
      } catch {
        unknownCommits++; // the next read asks the primary, and `fence()` says nothing until then
      }
    },
    // A position that misses a commit noted without one would let other processes read a replica that
    // has not replayed it.
    fence: () => (fence === 0n || coveredCommits < unknownCommits ? null : formatLsn(fence)),
    stats: () => ({ ...stats }),
    close: () => replica.$disconnect(),
  };
}

/** The position in an answer to REPLAY_QUERY; null when the server is not a standby. */
function replayPosition(rows: Array<{ lsn: string | null }>): bigint | null {
  const lsn = rows[0]?.lsn;
  return lsn ? parseLsn(lsn) : null;
}

/** What `promise` resolves to within `ms`, else undefined (it is left running). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The line of an error that says what went wrong: Prisma's messages open with where it was called. */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message.split("\n").map((line) => line.trim());
  return lines.filter((line) => line !== "" && !line.startsWith("Invalid `")).at(-1) ?? "failed";
}
