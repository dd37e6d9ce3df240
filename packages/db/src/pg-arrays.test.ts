import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "./database";
import { booleanArray, numberArray, textArray } from "./pg-arrays";
import { openTestDatabase } from "./testing";

let db: Database;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => {
  await db?.stop();
});

describe("PostgreSQL array literals", () => {
  it("round-trip awkward text through the server", async () => {
    const values = [
      'a"b',
      "back\\slash",
      "",
      "NULL",
      "{braces}",
      "com,ma",
      " spaced ",
      "ünï😀",
      null,
      "nul\u0000byte",
    ];
    const rows = await db.prisma.$queryRawUnsafe<Array<{ value: string | null }>>(
      "SELECT unnest($1::text[]) AS value",
      textArray(values),
    );
    expect(rows.map((row) => row.value)).toEqual([...values.slice(0, -1), "nul\uFFFDbyte"]);
  });

  it("carry numbers, bigints and booleans", async () => {
    const rows = await db.prisma.$queryRawUnsafe<Array<{ n: bigint; b: boolean }>>(
      "SELECT * FROM unnest($1::bigint[], $2::boolean[]) AS t(n, b)",
      numberArray([0, 1, Number.MAX_SAFE_INTEGER, 9007199254740993n]),
      booleanArray([true, false, true, false]),
    );
    expect(rows).toEqual([
      { n: 0n, b: true },
      { n: 1n, b: false },
      { n: BigInt(Number.MAX_SAFE_INTEGER), b: true },
      { n: 9007199254740993n, b: false },
    ]);
  });

  it("make empty arrays", () => {
    expect(textArray([])).toBe("{}");
    expect(numberArray([])).toBe("{}");
  });
});
