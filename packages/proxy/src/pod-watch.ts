/**
 * Every pod of the cluster, listed and then watched, as client-go's reflector keeps its store: a list in
 * pages, a watch from the list's resourceVersion with bookmarks, watched again from the last
 * resourceVersion when the apiserver ends a watch at its timeout, listed again when the apiserver answers
 * that version is gone (410). Made of Node's https and the upstream's own credentials
 * (`Upstream.authorize`), so a proxy that attributes pods does not load client-node.
 */
import type { ClientRequest } from "node:http";
import https from "node:https";
import type { V1Pod } from "@kubernetes/client-node";
import type { Upstream } from "./upstream";

/** Pods per list page (client-go's reflector pages by 500 too). */
export const POD_LIST_PAGE = 500;
/** A list page's body, at most: past it the list fails (500 pods of the 1.5 MiB etcd allows are 750 MiB). */
export const MAX_LIST_PAGE_BYTES = 256 * 1024 * 1024;
/** One watch event, at most (a pod is at most etcd's 1.5 MiB request limit, plus the event's wrapping). */
export const MAX_WATCH_EVENT_BYTES = 4 * 1024 * 1024;
/** The user agent of these calls, so they are recognisable in the apiserver's audit log. */
export const POD_WATCH_USER_AGENT = "apisnoop-proxy (pod directory)";

/** An HTTP status other than 200 from the apiserver; its body (which may echo the request) is dropped. */
export class HttpStatusError extends Error {
  constructor(
    readonly statusCode: number,
    what: string,
  ) {
    super(`${what}: HTTP ${statusCode}`);
  }
}

/** The apiserver no longer has the watched resourceVersion (410 Gone): list again. */
export class ResourceVersionGone extends Error {}

/** Where the pods go. */
export interface PodEvents {
  /** Every pod there is, from a (re)list: replaces what was known. */
  replace(pods: V1Pod[]): void;
  upsert(pod: V1Pod): void;
  remove(pod: V1Pod): void;
}

/** One list, then watches; PodDirectory decides when to call which. */
export class PodWatch {
  private resourceVersion = "";
  private request: ClientRequest | null = null;
  private stopped = false;

  constructor(
    private readonly upstream: Upstream,
    private readonly events: PodEvents,
  ) {}

  /**
   * Lists every pod, page by page, and hands them over in one `replace`.
   * @throws HttpStatusError, a network error, or Error for a page past its bound or not JSON.
   */
  async list(): Promise<void> {
    const pods: V1Pod[] = [];
    let continueToken = "";
    let resourceVersion = "";
    do {
      const query = `limit=${POD_LIST_PAGE}${continueToken ? `&continue=${encodeURIComponent(continueToken)}` : ""}`;
      const page = JSON.parse(await this.get(`/api/v1/pods?${query}`)) as {
        metadata?: { resourceVersion?: unknown; continue?: unknown };
        items?: unknown;
      };
      if (!Array.isArray(page.items)) throw new Error("list pods: the answer has no items");
      for (const pod of page.items as V1Pod[]) pods.push(pod);
      continueToken = typeof page.metadata?.continue === "string" ? page.metadata.continue : "";
      resourceVersion =
        typeof page.metadata?.resourceVersion === "string" ? page.metadata.resourceVersion : "";
    } while (continueToken);
    if (this.stopped) return;
    this.resourceVersion = resourceVersion;
    this.events.replace(pods);
  }

  /**
   * Watches from the last list or event; `onOpen` once the apiserver accepts. Resolves when the apiserver
   * ends the watch (its timeout, 5–10 minutes as client-go asks) or `stop` is called.
   * @throws ResourceVersionGone (list again), HttpStatusError, a network error, or Error for an ERROR
   * event or an event past its bound.
   */
  async watch(onOpen: () => void): Promise<void> {
    if (this.stopped) return;
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const options = await this.options(
      `/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${encodeURIComponent(this.resourceVersion)}`,
    );
    await new Promise<void>((resolve, reject) => {
      if (this.stopped) {
        resolve();
        return;
      }
      let complete = (): boolean => true;
      const request = https.request(options, (response) => {
        complete = () => response.complete;
        if (response.statusCode === 410) {
          response.resume();
          reject(new ResourceVersionGone("watch pods: HTTP 410"));
          return;
        }
        if (response.statusCode !== 200) {
          response.resume();
          reject(new HttpStatusError(response.statusCode ?? 0, "watch pods"));
          return;
        }
        onOpen();
        let buffered = "";
        response.setEncoding("utf8");
        response.on("data", (text: string) => {
          buffered += text;
          let newline = buffered.indexOf("\n");
          while (newline !== -1) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            const failure = line.trim() ? this.event(line) : null;
            if (failure) {
              reject(failure);
              request.destroy();
              return;
            }
            newline = buffered.indexOf("\n");
          }
          if (buffered.length > MAX_WATCH_EVENT_BYTES) {
            reject(new Error(`watch pods: an event longer than ${MAX_WATCH_EVENT_BYTES} bytes`));
            request.destroy();
          }
        });
        response.on("end", () => resolve());
        response.on("error", reject);
      });
      // A watch the apiserver ends itself at timeoutSeconds; past that the connection is dead.
      request.setTimeout((timeoutSeconds + 60) * 1000, () =>
        request.destroy(new Error("watch pods: no end from the apiserver")),
      );
      request.on("error", reject);
      // Ended by the apiserver, the response is complete; cut (the connection lost), it is not.
      request.on("close", () =>
        complete() ? resolve() : reject(new Error("watch pods: the connection closed mid-stream")),
      );
      this.request = request;
      request.end();
    }).finally(() => {
      this.request = null;
    });
  }

  /** Ends the watch in progress; later calls do nothing. */
  stop(): void {
    this.stopped = true;
    this.request?.destroy();
  }

  /** Applies one watch event; returns the error that ends the watch, if it is one. */
  private event(line: string): Error | null {
    let event: { type?: unknown; object?: { metadata?: { resourceVersion?: unknown }; code?: unknown } };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return new Error("watch pods: an event that is not JSON");
    }
    const object = event.object;
    if (event.type === "ERROR") {
      return object?.code === 410
        ? new ResourceVersionGone("watch pods: resourceVersion gone")
        : new Error(
            `watch pods: an ERROR event${typeof object?.code === "number" ? ` (${object.code})` : ""}`,
          );
    }
    if (!object || typeof object !== "object") return null;
    const version = object.metadata?.resourceVersion;
    if (typeof version === "string" && version) this.resourceVersion = version;
    if (event.type === "ADDED" || event.type === "MODIFIED") this.events.upsert(object as V1Pod);
    else if (event.type === "DELETED") this.events.remove(object as V1Pod);
    return null;
  }

  private async options(path: string): Promise<https.RequestOptions> {
    const options: https.RequestOptions = {
      method: "GET",
      hostname: this.upstream.host,
      port: this.upstream.port,
      path: this.upstream.basePath + path,
      headers: { accept: "application/json", "user-agent": POD_WATCH_USER_AGENT },
    };
    await this.upstream.authorize(options);
    return options;
  }

  /** A GET's body as text, bounded by MAX_LIST_PAGE_BYTES. */
  private async get(path: string): Promise<string> {
    const options = await this.options(path);
    return new Promise((resolve, reject) => {
      const request = https.request(options, (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new HttpStatusError(response.statusCode ?? 0, "list pods"));
          return;
        }
        const chunks: Buffer[] = [];
        let length = 0;
        response.on("data", (chunk: Buffer) => {
          length += chunk.length;
          if (length > MAX_LIST_PAGE_BYTES) {
            reject(new Error(`list pods: a page longer than ${MAX_LIST_PAGE_BYTES} bytes`));
            request.destroy();
            return;
          }
          chunks.push(chunk);
        });
        response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        response.on("error", reject);
      });
      request.on("error", reject);
      this.request = request;
      request.end();
    });
  }
}
