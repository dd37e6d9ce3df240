import type { IngestBatch } from "@apisnoop/protocol";
import type { UpstreamImportState } from "../data/dashboard-data";

/** Stores one batch (and makes it visible: invalidates caches, lights open pages); `duplicate` if seen. */
export type StoreBatch = (batch: IngestBatch) => Promise<{ duplicate: boolean }>;

/**
 * Imports apisnoop's published upstream e2e coverage of the loaded releases into the database as the
 * source `upstream-e2e`, one release after the other, in the background: the dashboard serves while it
 * runs, and open pages light up as each release lands. Each batch's id derives from its content, so a
 * later start finds the same data imported and changes nothing. Progress goes to `log` and, through
 * `states()`, to the pages.
 */
export class UpstreamImporter {
  private readonly entries: UpstreamImportState[] = [];
  private readonly queue: Array<{ state: UpstreamImportState; batch: IngestBatch }> = [];
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly store: StoreBatch,
    private readonly log: (line: string) => void,
  ) {}

  /** Queues a release's upstream e2e batch (apisnoop's coverage: `endpoints` tested by `tests` tests). */
  add(release: string, batch: IngestBatch, counts: { endpoints: number; tests: number }): void {
    if (this.stopped || this.entries.some((entry) => entry.release === release)) return;
    const state: UpstreamImportState = { release, state: "waiting", ...counts, seconds: null, error: null };
    this.entries.push(state);
    this.queue.push({ state, batch });
    this.running ??= this.drain();
  }

  /** What each release's import is doing, in the order they were queued. */
  states(): readonly UpstreamImportState[] {
    return this.entries;
  }

  /** Resolves when every queued import has ended (tests; a clean stop). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Starts no further import and waits for the one under way, so the database can be closed after. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const { state } of this.queue.splice(0)) {
      state.state = "failed";
      state.error = "stopped before it started";
    }
    await this.idle();
  }

  private async drain(): Promise<void> {
    // Off the caller's turn: the dashboard answers its first request before the first import starts.
    await new Promise((resolve) => setImmediate(resolve));
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      const { state, batch } = next;
      state.state = "importing";
      this.log(
        `upstream e2e: importing apisnoop's published coverage of ${state.release} ` +
          `(${state.endpoints} endpoints, ${state.tests.toLocaleString("en")} tests) in the background…`,
      );
      const started = Date.now();
      try {
        const { duplicate } = await this.store(batch);
        state.seconds = (Date.now() - started) / 1000;
        state.state = duplicate ? "already imported" : "imported";
        this.log(
          duplicate
            ? `upstream e2e: ${state.release} was imported before`
            : `upstream e2e: ${state.release} imported in ${state.seconds.toFixed(1)} s`,
        );
      } catch (error) {
        state.state = "failed";
        state.error = (error as Error).message.split("\n")[0] ?? "";
        this.log(`upstream e2e: ${state.release} not imported: ${state.error}`);
      }
    }
    this.running = null;
  }
}
