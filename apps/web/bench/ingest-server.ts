/**
 * The web app's ingest side on its own, for bench:ingest: Socket.IO's ingest namespace (`setupIngest`)
 * committing batches through `recordBatch`, in its own process as in production (the proxy is another).
 * Reads DATABASE_URL and APISNOOP_INGEST_TOKEN; prints `listening <port>` once it serves.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { openDatabase, recordBatch } from "@apisnoop/db";
import { setupIngest } from "../src/realtime/ingest";

const database = await openDatabase({ databaseUrl: process.env.DATABASE_URL });
const http = createServer();
const ingest = setupIngest(http, {
  token: process.env.APISNOOP_INGEST_TOKEN ?? null,
  recordBatch: (batch) => recordBatch(database.prisma, batch),
});
http.listen(0, "127.0.0.1", () => console.log(`listening ${(http.address() as AddressInfo).port}`));
process.once("SIGTERM", () => {
  void ingest.close();
  void database.stop().then(() => process.exit(0));
});
