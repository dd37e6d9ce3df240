import type { Endpoint, EndpointCatalog, MatchResult } from "./types";

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
} as const;

/** Template parameters that span slashes: the proxy sub-path and the log file path. */
const GREEDY_PARAMETERS = new Set(["{path}", "{logpath}"]);

/** One node of the segment trie; operations hang off the node where their template ends. */
class TrieNode {
  literals = new Map<string, TrieNode>();
  parameter: TrieNode | null = null;
  /** Operations whose last segment is a slash-spanning parameter, by method. */
  greedy: Map<string, Endpoint> | null = null;
  /** Operations whose template ends here, by method. */
  operations: Map<string, Endpoint> | null = null;
}

interface Found {
  endpoint: Endpoint | null;
  /** A path matched but not with this method. */
  pathMatched: boolean;
}

/**
 * Compiles a catalog into a segment trie: a match walks the request's segments once (literal child first,
 * then the parameter child, backtracking on a dead end), never scanning the endpoint list.
 */
export function compileMatcher(catalog: EndpointCatalog): RequestMatcher {
  const root = new TrieNode();
  const groupVersions = new Map<string, Set<string>>();
  for (const endpoint of catalog.byOperationId.values()) {
    insert(root, endpoint);
    const segments = splitTemplate(endpoint.path);
    if (segments[0] === "apis" && segments[1] !== undefined) {
      const versions = groupVersions.get(segments[1]) ?? new Set<string>();
      if (segments[2] !== undefined) versions.add(segments[2]);
      groupVersions.set(segments[1], versions);
    }
  }
  const coreVersions = new Set(
    [...catalog.byOperationId.values()]
      .map((e) => splitTemplate(e.path))
      .filter((s) => s[0] === "api" && s[1])
      .map((s) => s[1] as string),
  );

  return {
    match(method, url) {
      const { segments, trailingSlash, query } = splitRequest(url);
      const upper = method.toUpperCase();
      const found = walk(root, segments, 0, upper, trailingSlash);
      if (found.endpoint) {
        const detail = detailOf(found.endpoint, query);
        return detail
          ? { operationId: found.endpoint.operationId, detail }
          : { operationId: found.endpoint.operationId };
      }
      if (found.pathMatched) return { operationId: null, reason: UNMATCHED_REASONS.methodNotAllowed };
      return { operationId: null, reason: unservedReason(segments, groupVersions, coreVersions) };
    },
  };
}

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
      let next = node.literals.get(segment);
      if (!next) {
        next = new TrieNode();
        node.literals.set(segment, next);
      }
      node = next;
    }
  }
  node.operations ??= new Map();
  node.operations.set(endpoint.method, endpoint);
}

function walk(
  node: TrieNode,
  segments: string[],
  index: number,
  method: string,
  trailingSlash: boolean,
): Found {
  if (index === segments.length) {
    const endpoint = node.operations?.get(method);
    // `.../proxy/` asks the proxied server for "/": the {path} operation with an empty path, unless the
    // spec has a template with that very trailing slash (`/logs/` is the log list, not `/logs/{logpath}`).
    if (trailingSlash && node.greedy && !endpoint?.path.endsWith("/")) {
      const greedy = node.greedy.get(method);
      if (greedy) return { endpoint: greedy, pathMatched: true };
    }
    if (node.operations) return { endpoint: endpoint ?? null, pathMatched: true };
    if (node.greedy && trailingSlash) return { endpoint: null, pathMatched: true };
    return { endpoint: null, pathMatched: false };
  }
  const segment = segments[index] as string;
  let pathMatched = false;
  const literal = node.literals.get(segment);
  if (literal) {
    const found = walk(literal, segments, index + 1, method, trailingSlash);
    if (found.endpoint) return found;
    pathMatched ||= found.pathMatched;
  }
  if (node.parameter) {
    const found = walk(node.parameter, segments, index + 1, method, trailingSlash);
    if (found.endpoint) return found;
    pathMatched ||= found.pathMatched;
  }
  if (node.greedy) {
    const endpoint = node.greedy.get(method);
    if (endpoint) return { endpoint, pathMatched: true };
    pathMatched = true;
  }
  return { endpoint: null, pathMatched };
}

/** `?watch=true` on a list is a watch of that list (Go's ParseBool spellings of true). */
const WATCH_TRUE = /(?:^|&)watch=(?:true|1|t|T|TRUE|True)(?:&|$)/;

function detailOf(endpoint: Endpoint, query: string): string | undefined {
  if (endpoint.watchOperation) return "deprecated watch path";
  if (query !== "" && endpoint.action === "list" && WATCH_TRUE.test(query)) return "watch";
  return undefined;
}

function unservedReason(
  segments: string[],
  groupVersions: Map<string, Set<string>>,
  coreVersions: Set<string>,
): string {
  const [root, group, version] = segments;
  if (root === "apis" && group !== undefined) {
    const versions = groupVersions.get(group);
    if (!versions) return UNMATCHED_REASONS.groupNotServed;
    if (version !== undefined && !versions.has(version)) return UNMATCHED_REASONS.versionNotServed;
  }
  if (root === "api" && group !== undefined && !coreVersions.has(group))
    return UNMATCHED_REASONS.versionNotServed;
  return UNMATCHED_REASONS.noSuchPath;
}

/** Segments of a spec path template; a trailing slash (`/apis/apps/`) is not a segment. */
function splitTemplate(path: string): string[] {
  return path.split("/").filter((s) => s !== "");
}

/**
 * Splits a request URL into percent-decoded path segments (each decoded on its own, so `%2F` stays inside
 * its segment) and the raw query. Accepts an absolute URL too (a forward proxy's request line).
 */
export function splitRequest(url: string): { segments: string[]; trailingSlash: boolean; query: string } {
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const scheme = url.indexOf("://");
    if (scheme !== -1) {
      const slash = url.indexOf("/", scheme + 3);
      start = slash === -1 ? url.length : slash;
    }
  }
  const hash = url.indexOf("#", start);
  const end = hash === -1 ? url.length : hash;
  const mark = url.indexOf("?", start);
  const pathEnd = mark === -1 || mark > end ? end : mark;
  const query = mark === -1 || mark > end ? "" : url.slice(mark + 1, end);
  const raw = url.slice(start, pathEnd);
  const segments: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "") continue;
    segments.push(part.includes("%") ? decodeSegment(part) : part);
  }
  return { segments, trailingSlash: raw.length > 1 && raw.endsWith("/"), query };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // malformed escapes are matched as written, as the apiserver would 404 them anyway
  }
}
