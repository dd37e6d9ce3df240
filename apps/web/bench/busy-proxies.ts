/**
 * Live traffic for the benchmarks that time a probe while other hits keep coming: proxies each sending
 * what the uplink sends, a batch of this minute's hits every second (their own sources calling a run of
 * endpoints of their own, as controllers poll the same ones), the next one only after the previous one's
 * ack.
 */
import type { IngestAck, IngestBatch, Source, StatusClass } from "@apisnoop/protocol";
import { type HitSpec, hitBatch } from "../src/testing/test-stack";

/** How many fake proxies keep a web app busy, and how hard. */
export interface BusyProxiesOptions {
  proxies: number;
  /** Rows of each batch. */
  rows: number;
  /** Every proxy's sources: each proxy sends as an equal share of them. */
  sources: Source[];
  /** The endpoints the proxies call: proxy p calls a run of them starting at p × `endpointStride`. */
  operationIds: string[];
  endpointStride: number;
  release: string;
  /** The status class of a batch's `row`th row (default 2xx). */
  statusClass?: (row: number) => StatusClass;
  /** Sends a batch as a proxy's uplink does, resolving with its ack. */
  send(batch: IngestBatch): Promise<IngestAck>;
}

/**
 * Starts the proxies, spread over the first second as independent proxies are. `stop()` ends them and
 * resolves with each acked batch's emit-to-ack time and the number refused (or never answered).
 */
export function startBusyProxies(options: BusyProxiesOptions) {
  const { proxies: count, rows, sources, operationIds, endpointStride } = options;
  const acks: number[] = [];
  let refused = 0;
  let stopped = false;
  const perProxy = Math.floor(sources.length / count);
  const proxies = Array.from({ length: count }, async (_, p) => {
    await sleep((p * 1000) / count);
    for (let round = 0; !stopped; round++) {
      const started = Date.now();
      const batch = Array.from(
        { length: rows },
        (_, i): HitSpec => [
          p * perProxy + (i % perProxy),
          operationIds[(p * endpointStride + Math.floor(i / perProxy)) % operationIds.length] as string,
          1 + ((round + i) % 5),
          options.statusClass?.(i) ?? "2xx",
        ],
      );
      const ack = await options.send(hitBatch(sources, batch, options.release)).catch(() => null);
      if (ack?.ok) acks.push(Date.now() - started);
      else refused++;
      await sleep(1000 - (Date.now() - started));
    }
  });
  return {
    async stop(): Promise<{ acks: number[]; refused: number }> {
      stopped = true;
      await Promise.all(proxies);
      return { acks, refused };
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
