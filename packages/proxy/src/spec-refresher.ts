import { buildCatalog, type LoadedSpec, liveSpecOf, loadSpec, MAX_SPEC_BYTES } from "@apisnoop/openapi";
import {
  MAX_WATCH_EVENT_BYTES,
  type OwnApiCall,
  ownApiGet,
  ownApiWatch,
  WATCH_END_GRACE_MS,
} from "./own-api";
import { type SpecSnapshot, specSnapshot } from "./spec-snapshot";
import type { Upstream } from "./upstream";

const CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
/** The user agent of the proxy's own API calls, so they are recognisable in the apiserver's audit log. */
export const PROXY_USER_AGENT = "apisnoop-proxy (spec refresh)";
/** `/version` and the one-item CRD list, at most: a few hundred bytes, and one CRD. */
export const MAX_SMALL_ANSWER_BYTES = 16 * 1024 * 1024;
/** The CRD watch's `timeoutSeconds`: the apiserver ends it after this and it is watched again. */
const CRD_WATCH_SECONDS = 600;

export interface SpecRefresherOptions {
  /** "live" (the upstream's /openapi/v2, read with the upstream's own credentials), a file or an http(s) URL. */
  source: string;
  upstream: Upstream;
  /** Reload on this interval too (milliseconds; 0: never). Only for "live". */
  intervalMs: number;
  /** Wait this long after a CRD change before reloading: CRD edits come in bursts. */
  debounceMs?: number;
  /** Told about every (re)load. */
  onLoaded?: (loaded: { operations: number; release: string | null; origin: string }) => void;
  onError?: (message: string) => void;
  /** Injectable for tests. */
  load?: (source: string) => Promise<LoadedSpec>;
  /** Each GET of a live spec must be over within this (milliseconds); default 60 s (`OWN_API_TIMEOUT_MS`). */
  timeoutMs?: number;
}

/**
 * Holds the spec requests are matched against and keeps it current: for a live spec it watches
 * `customresourcedefinitions` (a CRD added or changed adds or changes operations) and also reloads on an
 * interval; file and URL specs are loaded once. A failed reload keeps the previous spec.
 */
export class SpecRefresher {
  private snapshot: SpecSnapshot | null = null;
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private readonly stopping = new AbortController();
  private stopped = false;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;

  constructor(private readonly options: SpecRefresherOptions) {}

  /** The newest spec (catalog, matcher and field walker of one load), or null before the first load. */
  current(): SpecSnapshot | null {
    return this.snapshot;
  }

  /** Loads the spec (throws if the first load fails), then starts watching for changes when live. */
  async start(): Promise<void> {
    await this.reload(true);
    if (this.options.source !== "live") return;
    if (this.options.intervalMs > 0) {
      this.timer = setInterval(() => void this.reload(false), this.options.intervalMs);
      this.timer.unref();
    }
    void this.watchCrds();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.stopping.abort();
  }

  /** Reloads now; concurrent calls coalesce into one more reload after the running one. */
  async reload(throwOnError = false): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        const load =
          this.options.load ?? ((source: string) => (source === "live" ? this.loadLive() : loadSpec(source)));
        const loaded = await load(this.options.source);
        const catalog = buildCatalog(loaded.spec, loaded.release);
        this.snapshot = specSnapshot(catalog);
        this.options.onLoaded?.({
          operations: catalog.byOperationId.size,
          release: loaded.release,
          origin: loaded.origin,
        });
      } catch (error) {
        if (throwOnError) throw error;
        this.options.onError?.(`spec reload failed (keeping the previous spec): ${(error as Error).message}`);
      } finally {
        this.reloading = null;
      }
    })();
    await this.reloading;
    if (this.reloadAgain && !this.stopped) {
      this.reloadAgain = false;
      await this.reload(false);
    }
  }

  private scheduleReload(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(false), this.options.debounceMs ?? 1000);
    this.debounce.unref();
  }

  /**
   * List CRDs for a resourceVersion, then watch from it; any event schedules a reload. Re-watches for ever,
   * after a delay that doubles while failures go on (a watch that ended within a second with no event is
   * one, so an upstream answering every watch at once is not called in a tight loop).
   */
  private async watchCrds(): Promise<void> {
    let backoffMs = 1000;
    while (!this.stopped) {
      try {
        const list = parseJson(
          await this.get(`${CRDS_PATH}?limit=1`, "list customresourcedefinitions", MAX_SMALL_ANSWER_BYTES),
          "list customresourcedefinitions",
        ) as { metadata?: { resourceVersion?: unknown } } | null;
        const version = list?.metadata?.resourceVersion;
        const resourceVersion = typeof version === "string" ? version : "";
        await ownApiWatch({
          ...this.call(
            `${CRDS_PATH}?watch=1&timeoutSeconds=${CRD_WATCH_SECONDS}&resourceVersion=${encodeURIComponent(resourceVersion)}`,
            "watch customresourcedefinitions",
          ),
          maxEventBytes: MAX_WATCH_EVENT_BYTES,
          timeoutMs: CRD_WATCH_SECONDS * 1000 + WATCH_END_GRACE_MS,
          onLine: (line) => {
            const event = parseJson(line, "watch customresourcedefinitions") as { type?: unknown } | null;
            if (event?.type === "ERROR")
              return new Error("watch customresourcedefinitions: an ERROR event (resourceVersion too old?)");
            this.scheduleReload();
            return null;
          },
        });
        backoffMs = 1000;
      } catch (error) {
        if (this.stopped) return;
        this.options.onError?.(
          `watching customresourcedefinitions failed, retrying in ${backoffMs} ms: ${(error as Error).message}`,
        );
        await new Promise((resolve) => setTimeout(resolve, backoffMs).unref());
        backoffMs = Math.min(backoffMs * 2, 60_000);
      }
    }
  }

  /** The upstream's spec and release, read with the upstream's credentials (no client-node). */
  private async loadLive(): Promise<LoadedSpec> {
    const { server } = this.options.upstream;
    const [specBody, versionBody] = await Promise.all([
      // Past its bound the load fails and a reload keeps the previous spec.
      this.get("/openapi/v2", "read the live spec", MAX_SPEC_BYTES).catch((error: Error) => {
        throw new Error(`cannot read the live spec from ${server}: ${error.message}`);
      }),
      this.get("/version", "read the version", MAX_SMALL_ANSWER_BYTES).catch(() => null),
    ]);
    return liveSpecOf(specBody, versionBody, server);
  }

  private call(path: string, what: string): OwnApiCall {
    return {
      upstream: this.options.upstream,
      path,
      what,
      userAgent: PROXY_USER_AGENT,
      signal: this.stopping.signal,
    };
  }

  private get(path: string, what: string, maxBodyBytes: number): Promise<Buffer> {
    return ownApiGet({ ...this.call(path, what), maxBodyBytes, timeoutMs: this.options.timeoutMs });
  }
}

/** JSON of the upstream's, or an error that does not quote it (JSON.parse's message does). */
function parseJson(text: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(typeof text === "string" ? text : text.toString("utf8"));
  } catch {
    throw new Error(`${what}: the answer is not JSON`);
  }
}
