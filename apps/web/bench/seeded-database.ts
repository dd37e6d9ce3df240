/**
 * A seeded benchmark database kept between runs (`--reuse DIR` of bench:dashboard): seeding 100 M hits
 * through the ingest takes ~30 min, a copy of a kept one seconds. DIR holds one embedded PostgreSQL per
 * seed, in a folder named by a hash of the seed's parameters and of the migrations (names and checksums):
 * a change to either is a new seed, never an old database read with new code. Its database `seeded` is
 * the finished seed (migrated, seeded, VACUUM ANALYZEd), never written to afterwards; each run gets
 * `run`, a fresh file copy of it, so the live traffic a run sends does not leak into the next run.
 * `seed.json` is written only once a seed is complete: a folder without it is a broken seed, made again.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { readMigrations, startEmbeddedPostgres } from "@apisnoop/db";
import pg from "pg";

/** What a finished seed recorded: its anchor minute (epoch minutes) and its own figures. */
export interface SeedRecord {
  anchorMinute: number;
  rows: number;
  batches: number;
  seedMs: number;
  vacuumMs: number;
}

/** A kept seed: where it lives, and the run copy's URL once `copyForRun` made it. */
export interface SeededDatabase {
  /** The folder of this seed inside DIR. */
  folder: string;
  /** The finished seed's record, or null when it must be seeded first (into `seededUrl`). */
  record: SeedRecord | null;
  /** URL of the database the seed is written to. */
  seededUrl: string;
  /** Marks the seed finished: `record` is written, and later runs reuse it. */
  finish(record: SeedRecord): void;
  /** A fresh copy of the finished seed for this run (dropped and made again on each call); its URL. */
  copyForRun(): Promise<string>;
  /** Stops the embedded PostgreSQL (the data stays). */
  stop(): Promise<void>;
}

/** Opens (or makes) the kept seed for `parameters` in `dir`. */
export async function openSeededDatabase(
  dir: string,
  parameters: Record<string, unknown>,
): Promise<SeededDatabase> {
  const migrations = readMigrations().map((m) => [m.name, m.checksum]);
  const key = createHash("sha256")
    .update(JSON.stringify({ parameters, migrations }))
    .digest("hex")
    .slice(0, 16);
  const root = path.resolve(dir);
  const folder = path.join(root, `seed-${key}`);
  const recordFile = path.join(folder, "seed.json");
  const finished = existsSync(recordFile);
  if (!finished) rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true, mode: 0o755 });
  writeFileSync(
    path.join(folder, "parameters.json"),
    `${JSON.stringify({ parameters, migrations }, null, 1)}\n`,
  );
  // fsync off: a seed is rebuilt rather than recovered (a crash mid-run leaves no seed.json to trust…
  // unless it was written before; delete DIR after a machine crash).
  const server = await startEmbeddedPostgres({
    dataDir: path.join(folder, "pgdata"),
    stateDir: root,
    volatile: true,
  });
  const urlOf = (name: string) => {
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    return url.toString();
  };
  const admin = async (...statements: string[]) => {
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      for (const sql of statements) await client.query(sql);
    } finally {
      await client.end();
    }
  };
  if (!finished) await admin("DROP DATABASE IF EXISTS seeded WITH (FORCE)", "CREATE DATABASE seeded");
  const seeded: SeededDatabase = {
    folder,
    record: finished ? (JSON.parse(readFileSync(recordFile, "utf8")) as SeedRecord) : null,
    seededUrl: urlOf("seeded"),
    finish(record) {
      writeFileSync(recordFile, `${JSON.stringify(record, null, 1)}\n`);
      seeded.record = record;
    },
    async copyForRun() {
      // FILE_COPY copies the files as they are (seconds for GBs); the default WAL_LOG writes it all to WAL.
      await admin(
        "DROP DATABASE IF EXISTS run WITH (FORCE)",
        "CREATE DATABASE run TEMPLATE seeded STRATEGY FILE_COPY",
      );
      return urlOf("run");
    },
    stop: () => server.stop(),
  };
  return seeded;
}
