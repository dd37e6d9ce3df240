/**
 * Every pod of the cluster, listed and then watched, as client-go's reflector keeps its store: a list in
 * pages, a watch from the list's resourceVersion with bookmarks, watched again from the last
 * resourceVersion when the apiserver ends a watch at its timeout, listed again when the apiserver answers
 * that version is gone (410). Made of Node's https and the upstream's own credentials
 * (`Upstream.authorize`), so a proxy that attributes pods does not load client-node.
 */
import type { V1Pod } from "@kubernetes/client-node";
import {
  HttpStatusError,
  MAX_WATCH_EVENT_BYTES,
  OWN_API_TIMEOUT_MS,
  ownApiGet,
  ownApiWatch,
  ResourceVersionGone,
  WATCH_END_GRACE_MS,
} from "./own-api";
import type { Upstream } from "./upstream";

export { HttpStatusError, MAX_WATCH_EVENT_BYTES, ResourceVersionGone };

/** Pods per list page (client-go's reflector pages by 500 too). */
export const POD_LIST_PAGE = 500;
/** A list page's body, at most: past it the list fails (500 pods of the 1.5 MiB etcd allows are 750 MiB). */
export const MAX_LIST_PAGE_BYTES = 256 * 1024 * 1024;
/** The user agent of these calls, so they are recognisable in the apiserver's audit log. */
export const POD_WATCH_USER_AGENT = "apisnoop-proxy (pod directory)";

/** Options of {@link PodWatch}. */
export interface PodWatchOptions {
  /** Each list page must be answered within this (milliseconds); default {@link OWN_API_TIMEOUT_MS}. */
  listTimeoutMs?: number;
}

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
  private readonly stopping = new AbortController();
  private applied = 0;

  constructor(
    private readonly upstream: Upstream,
    private readonly sink: PodEvents,
    private readonly options: PodWatchOptions = {},
  ) {}

  /**
   * Lists every pod, page by page, and hands them over in one `replace`.
   * @throws HttpStatusError, ResourceVersionGone (a continue token expired), a network error, or Error for
   * a page past its bound or its deadline, or not JSON.
   */
  async list(): Promise<void> {
    const pods: V1Pod[] = [];
    let continueToken = "";
    let resourceVersion = "";
    do {
      const query = `limit=${POD_LIST_PAGE}${continueToken ? `&continue=${encodeURIComponent(continueToken)}` : ""}`;
      const body = await ownApiGet({
        ...this.call(`/api/v1/pods?${query}`, "list pods"),
        maxBodyBytes: MAX_LIST_PAGE_BYTES,
        timeoutMs: this.options.listTimeoutMs ?? OWN_API_TIMEOUT_MS,
      });
      let page: { metadata?: { resourceVersion?: unknown; continue?: unknown }; items?: unknown };
      try {
        page = JSON.parse(body.toString("utf8")) as typeof page;
      } catch {
        // JSON.parse's message quotes the text around the error: pods' environment values, perhaps.
        throw new Error("list pods: the answer is not JSON");
      }
      if (!Array.isArray(page?.items)) throw new Error("list pods: the answer has no items");
      for (const pod of page.items as V1Pod[]) pods.push(pod);
      continueToken = typeof page.metadata?.continue === "string" ? page.metadata.continue : "";
      resourceVersion =
        typeof page.metadata?.resourceVersion === "string" ? page.metadata.resourceVersion : "";
    } while (continueToken);
    if (this.stopping.signal.aborted) return;
    this.resourceVersion = resourceVersion;
    this.sink.replace(pods);
  }

  /**
   * Watches from the last list or event; `onOpen` once the apiserver accepts. Resolves when the apiserver
   * ends the watch (its timeout, 5–10 minutes as client-go asks) or `stop` is called.
   * @throws ResourceVersionGone (list again), HttpStatusError, a network error, or Error for an ERROR
   * event, an event past its bound, or an end within a second with no event.
   */
  async watch(onOpen: () => void): Promise<void> {
    if (this.stopping.signal.aborted) return;
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    try {
      await ownApiWatch({
        ...this.call(
          `/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${encodeURIComponent(this.resourceVersion)}`,
          "watch pods",
        ),
        maxEventBytes: MAX_WATCH_EVENT_BYTES,
        timeoutMs: timeoutSeconds * 1000 + WATCH_END_GRACE_MS,
        onOpen,
        onLine: (line) => this.event(line),
      });
    } catch (error) {
      if (!this.stopping.signal.aborted) throw error;
    }
  }

  /** Watch events applied so far, bookmarks included, ERROR events not. */
  get eventsApplied(): number {
    return this.applied;
  }

  /** Ends the list or watch in progress; later calls do nothing. */
  stop(): void {
    this.stopping.abort();
  }

  private call(path: string, what: string) {
    return {
      upstream: this.upstream,
      path,
      what,
      userAgent: POD_WATCH_USER_AGENT,
      signal: this.stopping.signal,
    };
  }

  /** Applies one watch event; returns the error that ends the watch, if it is one. */
  private event(line: string): Error | null {
    let event: { type?: unknown; object?: { metadata?: { resourceVersion?: unknown }; code?: unknown } };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return new Error("watch pods: an event that is not JSON");
    }
    const object = event?.object;
    if (event?.type === "ERROR") {
      return object?.code === 410
        ? new ResourceVersionGone("watch pods: resourceVersion gone")
        : new Error(
            `watch pods: an ERROR event${typeof object?.code === "number" ? ` (${object.code})` : ""}`,
          );
    }
    if (!object || typeof object !== "object") return null;
    this.applied++;
    const version = object.metadata?.resourceVersion;
    if (typeof version === "string" && version) this.resourceVersion = version;
    if (event.type === "ADDED" || event.type === "MODIFIED") this.sink.upsert(object as V1Pod);
    else if (event.type === "DELETED") this.sink.remove(object as V1Pod);
    return null;
  }
}
