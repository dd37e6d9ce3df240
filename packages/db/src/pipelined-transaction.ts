/**
 * A transaction whose statements go out without waiting for each other's answers. PostgreSQL still runs
 * them one after the other, in the order sent, and a failed one aborts the transaction, so the statements
 * behave as if each had been awaited; only the waiting is gone. A batch's dozen statements sent one by one
 * cost a dozen round trips, and on a loaded machine each round trip is a wait for the database's process
 * and then for this one to be scheduled again (hundreds of ms a batch under load, bench:replicas).
 */
import type pg from "pg";

/** The statements of one transaction, on one connection of a pipelining pool (`pipeline: true`). */
export class PipelinedTransaction {
  private readonly sent: Array<Promise<unknown>> = [];
  private failure: unknown = null;

  constructor(private readonly client: pg.PoolClient) {}

  /** Sends a statement now and resolves with its rows, once it (and every statement before it) ran. */
  query<Row extends object>(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    const result = this.client.query<Row>(sql, params as unknown[]).then((answer) => answer.rows);
    this.track(result);
    return result;
  }

  /** Sends a statement whose rows nothing reads; a failure of it fails `commit`. */
  add(sql: string, ...params: unknown[]): void {
    this.track(this.client.query(sql, params));
  }

  /**
   * Sends COMMIT behind every statement sent and waits for all their answers. Rejects with the first
   * statement's failure: PostgreSQL then answered the COMMIT with a rollback, and nothing was stored.
   */
  async commit(): Promise<void> {
    const commit = this.client.query("COMMIT");
    this.track(commit);
    await Promise.allSettled(this.sent);
    if (this.failure !== null) throw this.failure;
    // A COMMIT of an aborted transaction is answered "ROLLBACK", not an error.
    if ((await commit).command !== "COMMIT") throw new Error("the batch's transaction was rolled back");
  }

  /** Waits for every statement sent, then rolls back what the transaction did. */
  async rollback(): Promise<void> {
    await Promise.allSettled(this.sent);
    await this.client.query("ROLLBACK");
  }

  /** The first statement's failure, if one failed: what the failures of the statements after it come from. */
  get firstFailure(): unknown {
    return this.failure;
  }

  private track(statement: Promise<unknown>): void {
    this.sent.push(statement);
    // Recorded here, so that a statement nobody awaits is no unhandled rejection and `commit` sees it.
    statement.catch((error: unknown) => {
      this.failure ??= error;
    });
  }
}

/**
 * Runs `work` in a transaction on a connection of `pool`, sending BEGIN together with its first
 * statements, and commits what it sent when it returns. When `work` or a statement fails, the transaction
 * is rolled back and the failure thrown (the first statement's, if one failed); a connection that cannot
 * even roll back is closed, not reused.
 */
export async function inPipelinedTransaction<T>(
  pool: pg.Pool,
  work: (tx: PipelinedTransaction) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  const tx = new PipelinedTransaction(client);
  let result: T;
  try {
    tx.add("BEGIN");
    result = await work(tx);
    await tx.commit();
  } catch (error) {
    try {
      await tx.rollback();
      client.release();
    } catch (broken) {
      client.release(broken as Error);
    }
    // "current transaction is aborted" says less than the failure that aborted it.
    throw tx.firstFailure ?? error;
  }
  client.release();
  return result;
}
