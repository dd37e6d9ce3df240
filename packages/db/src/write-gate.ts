import type { PrismaClient } from "./client";

/**
 * Batches written at once through one client, per lane. Concurrent batches mostly update the same rows
 * (this minute's rollups of the busiest endpoints) and wait on each other's row locks, so more writers add
 * no throughput, while each waiting one holds a pool connection: a burst of batches once took all ten, so
 * the dashboard's reads waited and later batches failed after Prisma's 10 s wait for a connection
 * (bench:dashboard). Past this many, batches queue here, in order, without a deadline.
 */
export const CONCURRENT_BATCH_WRITES = 2;

/**
 * Batches of at most this many rows (a few calls of an interactive client) have a lane of their own, so
 * that they do not queue behind bulk batches of thousands of rows (an e2e run's proxy): a kubectl call
 * reaches the live view in the time of its own commit.
 */
export const SMALL_BATCH_ROWS = 100;

const writeGates = new WeakMap<PrismaClient, Record<"small" | "bulk", Gate>>();

/** The gate a batch of `rows` rows written through `prisma` waits at: its client's small or bulk lane. */
export function batchWriteGate(prisma: PrismaClient, rows: number): Gate {
  let gates = writeGates.get(prisma);
  if (!gates) {
    gates = { small: new Gate(CONCURRENT_BATCH_WRITES), bulk: new Gate(CONCURRENT_BATCH_WRITES) };
    writeGates.set(prisma, gates);
  }
  return gates[rows <= SMALL_BATCH_ROWS ? "small" : "bulk"];
}

/** Runs at most `limit` tasks at once; the others start in the order they came. */
export class Gate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The slot passes straight to the next task, so `running` counts it still.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
