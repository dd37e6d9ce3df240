import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { poolOf } from "./client";
import type { Database } from "./database";
import { inPipelinedTransaction } from "./pipelined-transaction";
import { openTestDatabase } from "./testing";

let db: Database;

beforeAll(async () => {
  db = await openTestDatabase();
  await db.prisma.$executeRawUnsafe(`CREATE TABLE pipelined (n int PRIMARY KEY, note text)`);
});
afterAll(async () => {
  await db?.stop();
});
beforeEach(async () => {
  await db.prisma.$executeRawUnsafe(`TRUNCATE pipelined`);
});

const stored = async () =>
  (await db.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT n FROM pipelined ORDER BY n`)).map(
    (row) => row.n,
  );

describe("inPipelinedTransaction", () => {
  it("runs the statements in the order sent and commits them", async () => {
    const seen = await inPipelinedTransaction(poolOf(db.prisma), async (tx) => {
      tx.add(`INSERT INTO pipelined VALUES ($1, $2)`, 1, "a");
      tx.add(`UPDATE pipelined SET note = note || $2 WHERE n = $1`, 1, "b");
      const rows = tx.query<{ note: string }>(`SELECT note FROM pipelined WHERE n = $1`, [1]);
      tx.add(`INSERT INTO pipelined VALUES ($1, $2)`, 2, "c");
      return rows;
    });
    expect(seen).toEqual([{ note: "ab" }]);
    expect(await stored()).toEqual([1, 2]);
  });

  it("stores nothing when a statement fails, and says which failure", async () => {
    const failed = inPipelinedTransaction(poolOf(db.prisma), async (tx) => {
      tx.add(`INSERT INTO pipelined VALUES ($1, $2)`, 1, "a");
      tx.add(`INSERT INTO pipelined VALUES ($1, $2)`, 1, "again"); // a duplicate key
      tx.add(`INSERT INTO pipelined VALUES ($1, $2)`, 2, "after");
    });
    await expect(failed).rejects.toMatchObject({ code: "23505" });
    expect(await stored()).toEqual([]);
    // The connection went back to the pool in a usable state.
    await inPipelinedTransaction(poolOf(db.prisma), async (tx) => tx.add(`INSERT INTO pipelined VALUES (3)`));
    expect(await stored()).toEqual([3]);
  });

  it("rolls back what was sent when the work throws", async () => {
    const failed = inPipelinedTransaction(poolOf(db.prisma), async (tx) => {
      tx.add(`INSERT INTO pipelined VALUES ($1, $2)`, 1, "a");
      throw new Error("the batch cannot be folded");
    });
    await expect(failed).rejects.toThrow("the batch cannot be folded");
    expect(await stored()).toEqual([]);
  });

  it("fails a statement that awaits an aborted one's transaction, storing nothing", async () => {
    const failed = inPipelinedTransaction(poolOf(db.prisma), async (tx) => {
      tx.add(`INSERT INTO pipelined VALUES ($1, $2)`, 1, "a");
      tx.add(`SELECT 1 / 0`);
      return tx.query(`SELECT n FROM pipelined`);
    });
    await expect(failed).rejects.toMatchObject({ code: "22012" });
    expect(await stored()).toEqual([]);
  });
});
