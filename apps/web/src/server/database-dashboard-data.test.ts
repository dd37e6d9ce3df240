/**
 * The views' reads on a real PostgreSQL: a view that needs several queries makes them in one `read`, so
 * one choice of server (a read replica that has replayed the last commit, or the primary) answers all of
 * them and its figures agree with each other.
 */
import { type Database, type DatabaseReads, loadRelease, primaryReads } from "@apisnoop/db";
import { NotFoundError } from "@apisnoop/db/errors";
import { openTestDatabase } from "@apisnoop/db/testing";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabaseDashboardData } from "./database-dashboard-data";

describe("views' reads", () => {
  let db: Database;
  let reads = 0;

  /** The dashboard's data on the primary alone, counting its calls of `read`. */
  const counted = () => {
    const primary = primaryReads(db.prisma);
    const counting: DatabaseReads = {
      ...primary,
      read: (query) => {
        reads++;
        return primary.read(query);
      },
    };
    return createDatabaseDashboardData({ prisma: db.prisma, reads: counting, upstream: new Map() });
  };

  beforeAll(async () => {
    db = await openTestDatabase();
    await loadRelease(db.prisma, sharedCatalog("1.34"), { origin: "test", isDefault: true });
  });
  afterAll(async () => {
    await db?.stop();
  });

  it("reads the upgrade-readiness view in one read", async () => {
    const data = counted();
    reads = 0;
    const readiness = await data.readiness({ outcome: "any" }, undefined);
    expect(readiness).toMatchObject({ release: "1.34", target: null });
    expect(reads).toBe(1);
    // A target that is not loaded is still the caller's NotFoundError, from within that one read.
    reads = 0;
    await expect(data.readiness({ outcome: "any" }, "9.99")).rejects.toBeInstanceOf(NotFoundError);
    expect(reads).toBe(1);
  });

  it("reads both sides' callers of a comparison in one read", async () => {
    const data = counted();
    reads = 0;
    await data.compareSelections({ outcome: "any" }, { outcome: "2xx" }, { callers: true });
    // One for each side's coverage (cached views of their own), one for the callers of both.
    expect(reads).toBe(3);
  });
});
