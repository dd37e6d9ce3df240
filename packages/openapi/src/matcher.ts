import type { Endpoint, EndpointCatalog, MatchResult } from "./types";
import { asksToWatch } from "./watch";

/** Matches requests to the operations of one spec. Compile once per spec with {@link compileMatcher}. */
export interface RequestMatcher {
  /** Matches `method` and `url` (path plus optional query, as the client sent them) per GUIDE §3. */
  match(method: string, url: string): MatchResult;
}

/** Reasons a request matches no operation. A fixed vocabulary: dashboards group unknown calls by it. */
export const UNMATCHED_REASONS = {
  noSuchPath: "no such path",
  methodNotAllowed: "method not allowed",
  groupNotServed: "group not served by this spec",
  versionNotServed: "version not served by this spec",
  /**
   * Not an unknown call: a path every kube-apiserver serves that no OpenAPI spec describes (see
   * {@link servedOutsideSpec}). Views show these apart and leave them out of the unknown-call count.
   */
  outsideSpec: "apiserver path outside the spec",
} as const;

/**
 * First segments of the paths kube-apiserver serves beside its API, which its OpenAPI spec leaves out:
 * the OpenAPI documents themselves (`/openapi/v2`, `/openapi/v3/apis/apps/v1` — kubectl fetches them on
 * every apply), health checks and each named check (`/livez/etcd`, `/readyz/poststarthook/…`), metrics,
 * debugging handlers and the z-pages.
 */
const OUTSIDE_SPEC_ROOTS = new Set([
  "openapi",
  "healthz",
  "livez",
  "readyz",
  "metrics",
  "debug",
  "statusz",
  "flagz",
]);

/**
 * Whether a path (its decoded segments) is one kube-apiserver serves outside its OpenAPI spec: one of
 * {@link OUTSIDE_SPEC_ROOTS}, or `/` (the list of served paths). `/version`, `/api`, `/apis` and
 * `/logs` are in the spec and match their operations.
 */
export function servedOutsideSpec(segments: readonly string[]): boolean {
  const [top] = segments;
  return top === undefined || OUTSIDE_SPEC_ROOTS.has(top);
}

/** Template parameters that span slashes: the proxy sub-path and the log file path. */
const GREEDY_PARAMETERS = new Set(["{path}", "{logpath}"]);

/** Most segments a request may have; longer paths (only possible under a greedy {path}) are cut there. */
const MAX_SEGMENTS = 256;

/** One node of the segment trie; operations hang off the node where their template ends. */
class TrieNode {
  /** Literal children bucketed by (length, first char), so a lookup compares in place, without slicing. */
  literals = new Map<number, [literal: string, child: TrieNode][]>();
  parameter: TrieNode | null = null;
  /** Operations whose last segment is a slash-spanning parameter, by method. */
  greedy: Map<string, Endpoint> | null = null;
  /** Operations whose template ends here, by method. */
  operations: Map<string, Endpoint> | null = null;

  child(literal: string): TrieNode {
    const key = bucketKey(literal.length, literal.charCodeAt(0));
    const bucket = this.literals.get(key) ?? [];
    this.literals.set(key, bucket);
    const found = bucket.find(([l]) => l === literal);
    if (found) return found[1];
    const node = new TrieNode();
    bucket.push([literal, node]);
    return node;
  }
}

function bucketKey(length: number, firstChar: number): number {
  return length * 65536 + firstChar;
}

/**
 * Compiles a catalog into a segment trie. A match scans the URL once for segment boundaries, then walks the
 * trie (literal child first, then the parameter child, backtracking on a dead end): no scan over the
 * endpoint list, no substring per segment, and a frozen result shared per endpoint.
 */
export function compileMatcher(catalog: EndpointCatalog): RequestMatcher {
  const root = new TrieNode();
  const groupVersions = new Map<string, Set<string>>();
  const coreVersions = new Set<string>();
  const results = new Map<Endpoint, MatchResult>();
  const watchResults = new Map<Endpoint, MatchResult>();
  for (const endpoint of catalog.byOperationId.values()) {
    insert(root, endpoint);
    const { operationId, watchOperation } = endpoint;
    const detail = watchOperation ? { detail: "deprecated watch path" } : {};
    results.set(endpoint, Object.freeze({ endpoint, operationId, watch: watchOperation, ...detail }));
    if (endpoint.action === "list") {
      watchResults.set(endpoint, Object.freeze({ endpoint, operationId, watch: true, detail: "watch" }));
    }
    const [top, group, version] = splitTemplate(endpoint.path);
    if (top === "apis" && group !== undefined) {
      const versions = groupVersions.get(group) ?? new Set<string>();
      if (version !== undefined) versions.add(version);
      groupVersions.set(group, versions);
    } else if (top === "api" && group !== undefined) {
      coreVersions.add(group);
    }
  }

  // Scratch state of the current match; matching is synchronous, so one set per matcher is enough.
  const path = new RequestPath();
  let method = "";
  let pathMatched = false;

  function walk(node: TrieNode, index: number): Endpoint | null {
    if (index === path.count) {
      // A trailing slash is no segment, also before a greedy {path}: kube-apiserver routes with go-restful,
      // which trims it (TrimRightSlashEnabled) before matching, so `.../proxy/` takes the `.../proxy` route
      // (the route with {path:*} needs one more segment), as apisnoop's audit-log mapping also counts it.
      if (node.operations) pathMatched = true;
      return node.operations?.get(method) ?? null;
    }
    const start = path.starts[index] as number;
    const length = (path.ends[index] as number) - start;
    const bucket = node.literals.get(bucketKey(length, path.text.charCodeAt(start)));
    if (bucket) {
      for (const [literal, child] of bucket) {
        if (path.text.startsWith(literal, start)) {
          const found = walk(child, index + 1);
          if (found) return found;
          break;
        }
      }
    }
    if (node.parameter) {
      const found = walk(node.parameter, index + 1);
      if (found) return found;
    }
    if (node.greedy) {
      pathMatched = true;
      return node.greedy.get(method) ?? null;
    }
    return null;
  }

  return {
    match(rawMethod, url) {
      const query = path.parse(url);
      method = CANONICAL_METHODS[rawMethod] ?? rawMethod.toUpperCase();
      pathMatched = false;
      const endpoint = walk(root, 0);
      if (endpoint) {
        if (endpoint.action === "list" && asksToWatch(query))
          return watchResults.get(endpoint) as MatchResult;
        return results.get(endpoint) as MatchResult;
      }
      const segments = pathMatched ? [] : path.segments();
      const reason = pathMatched
        ? UNMATCHED_REASONS.methodNotAllowed
        : servedOutsideSpec(segments)
          ? UNMATCHED_REASONS.outsideSpec
          : unservedReason(segments, groupVersions, coreVersions);
      return { endpoint: null, operationId: null, watch: asksToWatch(query), reason };
    },
  };
}

const CANONICAL_METHODS: Record<string, string> = {
  GET: "GET",
  get: "GET",
  POST: "POST",
  post: "POST",
  PUT: "PUT",
  put: "PUT",
  PATCH: "PATCH",
  patch: "PATCH",
  DELETE: "DELETE",
  delete: "DELETE",
  HEAD: "HEAD",
  OPTIONS: "OPTIONS",
};

function insert(root: TrieNode, endpoint: Endpoint): void {
  let node = root;
  const segments = splitTemplate(endpoint.path);
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (i === segments.length - 1 && GREEDY_PARAMETERS.has(segment)) {
      node.greedy ??= new Map();
      node.greedy.set(endpoint.method, endpoint);
      return;
    }
    if (segment.startsWith("{")) {
      node.parameter ??= new TrieNode();
      node = node.parameter;
    } else {
      node = node.child(segment);
    }
  }
  node.operations ??= new Map();
  node.operations.set(endpoint.method, endpoint);
}

function unservedReason(
  segments: string[],
  groupVersions: Map<string, Set<string>>,
  coreVersions: Set<string>,
): string {
  const [top, group, version] = segments;
  if (top === "apis" && group !== undefined) {
    const versions = groupVersions.get(group);
    if (!versions) return UNMATCHED_REASONS.groupNotServed;
    if (version !== undefined && !versions.has(version)) return UNMATCHED_REASONS.versionNotServed;
  }
  if (top === "api" && group !== undefined && !coreVersions.has(group))
    return UNMATCHED_REASONS.versionNotServed;
  return UNMATCHED_REASONS.noSuchPath;
}

/** Segments of a spec path template; a trailing slash (`/apis/apps/`) is not a segment. */
function splitTemplate(path: string): string[] {
  return path.split("/").filter((s) => s !== "");
}

/**
 * The path of one request as segment boundaries over a text: the URL itself when nothing is
 * percent-encoded (the common case, no copying), else the decoded segments joined (each decoded on its
 * own, so `%2F` stays inside its segment). Empty segments (`//`) are skipped.
 */
class RequestPath {
  text = "";
  starts = new Int32Array(MAX_SEGMENTS);
  ends = new Int32Array(MAX_SEGMENTS);
  count = 0;
  trailingSlash = false;

  /** Parses `url` (a path with optional query, or an absolute URL); returns the raw query. */
  parse(url: string): string {
    let start = 0;
    if (url.charCodeAt(0) !== 47 /* / */) {
      const scheme = url.indexOf("://");
      if (scheme !== -1) {
        const slash = url.indexOf("/", scheme + 3);
        start = slash === -1 ? url.length : slash;
      }
    }
    let end = url.indexOf("#", start);
    if (end === -1) end = url.length;
    let pathEnd = url.indexOf("?", start);
    const query = pathEnd === -1 || pathEnd > end ? "" : url.slice(pathEnd + 1, end);
    if (pathEnd === -1 || pathEnd > end) pathEnd = end;
    this.trailingSlash = pathEnd - start > 1 && url.charCodeAt(pathEnd - 1) === 47;
    this.text = url;
    this.count = 0;
    let from = start;
    let encoded = false;
    while (from < pathEnd && this.count < MAX_SEGMENTS) {
      let slash = url.indexOf("/", from);
      if (slash === -1 || slash > pathEnd) slash = pathEnd;
      if (slash > from) {
        this.starts[this.count] = from;
        this.ends[this.count] = slash;
        this.count++;
      }
      from = slash + 1;
    }
    const percent = url.indexOf("%", start);
    if (percent !== -1 && percent < pathEnd) encoded = true;
    if (encoded) this.decode();
    return query;
  }

  /** The segments as strings (allocates: only for the rare unmatched path and for tests). */
  segments(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.text.slice(this.starts[i], this.ends[i]));
    return out;
  }

  private decode(): void {
    const decoded = this.segments().map(decodeSegment);
    let offset = 0;
    for (let i = 0; i < decoded.length; i++) {
      this.starts[i] = offset;
      offset += (decoded[i] as string).length;
      this.ends[i] = offset;
      offset += 1;
    }
    this.text = decoded.join("/");
  }
}

/** The percent-decoded path segments, trailing-slash flag and raw query of a request URL. */
export function splitRequest(url: string): { segments: string[]; trailingSlash: boolean; query: string } {
  const path = new RequestPath();
  const query = path.parse(url);
  return { segments: path.segments(), trailingSlash: path.trailingSlash, query };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // malformed escapes are matched as written, as the apiserver would 404 them anyway
  }
}
