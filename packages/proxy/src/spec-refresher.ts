import https from "node:https";
import { buildCatalog, type LoadedSpec, liveSpecOf, loadSpec } from "@apisnoop/openapi";
import { type SpecSnapshot, specSnapshot } from "./spec-snapshot";
import type { Upstream } from "./upstream";

const CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
/** The user agent of the proxy's own API calls, so they are recognisable in the apiserver's audit log. */
export const PROXY_USER_AGENT = "apisnoop-proxy (spec refresh)";

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
  private watchRequest: ReturnType<typeof https.request> | null = null;
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
    this.watchRequest?.destroy();
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

  /** List CRDs for a resourceVersion, then watch from it; any event schedules a reload. Re-watches forever. */
  private async watchCrds(): Promise<void> {
    let backoffMs = 1000;
    while (!this.stopped) {
      try {
        const list = JSON.parse((await this.get(`${CRDS_PATH}?limit=1`)).toString("utf8")) as {
          metadata?: { resourceVersion?: string };
        };
        const resourceVersion = list.metadata?.resourceVersion ?? "";
        await this.watch(
          `${CRDS_PATH}?watch=1&timeoutSeconds=600&resourceVersion=${encodeURIComponent(resourceVersion)}`,
        );
        backoffMs = 1000;
      } catch (error) {
        if (this.stopped) return;
        this.options.onError?.(
          `watching customresourcedefinitions failed, retrying: ${(error as Error).message}`,
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
      this.get("/openapi/v2").catch((error: Error) => {
        throw new Error(`cannot read the live spec from ${server}: ${error.message}`);
      }),
      this.get("/version").catch(() => null),
    ]);
    return liveSpecOf(specBody, versionBody, server);
  }

  private async requestOptions(path: string): Promise<https.RequestOptions> {
    const url = new URL(this.options.upstream.basePath + path, this.options.upstream.server);
    const options: https.RequestOptions = {
      method: "GET",
      protocol: url.protocol,
      hostname: this.options.upstream.host,
      port: this.options.upstream.port,
      path: url.pathname + url.search,
      headers: { accept: "application/json", "user-agent": PROXY_USER_AGENT },
    };
    await this.options.upstream.authorize(options);
    return options;
  }

  private async get(path: string): Promise<Buffer> {
    const options = await this.requestOptions(path);
    return new Promise((resolve, reject) => {
      const request = https.request(options, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          response.statusCode === 200
            ? resolve(Buffer.concat(chunks))
            : reject(new Error(`GET ${path.replace(/\?.*/, "")}: HTTP ${response.statusCode}`)),
        );
        response.on("error", reject);
      });
      request.on("error", reject);
      request.end();
    });
  }

  private async watch(path: string): Promise<void> {
    const options = await this.requestOptions(path);
    if (this.stopped) return;
    await new Promise<void>((resolve, reject) => {
      const request = https.request(options, (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`watch ${CRDS_PATH}: HTTP ${response.statusCode}`));
          return;
        }
        let buffered = "";
        response.setEncoding("utf8");
        response.on("data", (text: string) => {
          buffered += text;
          let newline = buffered.indexOf("\n");
          while (newline !== -1) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            if (line.includes('"type":"ERROR"')) {
              reject(new Error("watch answered an ERROR event (resourceVersion too old?)"));
              request.destroy();
              return;
            }
            if (line.trim()) this.scheduleReload();
            newline = buffered.indexOf("\n");
          }
        });
        response.on("end", () => resolve());
        response.on("error", reject);
      });
      request.on("error", reject);
      request.on("close", () => resolve());
      this.watchRequest = request;
      request.end();
    });
  }
}
