import type { IncomingMessage, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { constants, gzip } from "node:zlib";
import {
  BADGE_METRICS,
  type BadgeMetric,
  badgeFigures,
  coverageBadge,
  coverageCsv,
  formatPrioritiesCsv,
  formatPrioritiesMarkdown,
} from "@apisnoop/coverage";
import { DEFAULT_PRIORITIES_LIMIT } from "@apisnoop/db";
import { NotFoundError } from "@apisnoop/db/errors";
import type { CoverageReport, DashboardData, DashboardFilters } from "../data/dashboard-data";

/** Where the HTTP API lives; the custom server answers these paths itself, before Next. */
export const API_PREFIX = "/api/v1/";

/** One answer of the API: status, media type, body and extra headers. */
interface ApiAnswer {
  status: number;
  type: string;
  body: Buffer;
  headers?: Record<string, string>;
}

type Route = (query: URLSearchParams, data: DashboardData) => Promise<ApiAnswer>;

const JSON_TYPE = "application/json; charset=utf-8";
const gzipAsync = promisify(gzip);

/**
 * Bodies of cached coverage reports, serialized once: the data layer hands out the same report object
 * until the next ingest commit, so repeated polls of one view cost neither JSON nor gzip again.
 */
const jsonBodies = new WeakMap<CoverageReport, Buffer>();
const gzipBodies = new WeakMap<Buffer, Promise<Buffer>>();

const routes: Record<string, Route> = {
  /** The selection's coverage and every endpoint of the release, as JSON. */
  async coverage(query, data) {
    const filters = parseFilters(query, data);
    const report = await data.coverage(filters);
    let body = jsonBodies.get(report);
    if (!body) {
      body = Buffer.from(JSON.stringify(report));
      jsonBodies.set(report, body);
    }
    return { status: 200, type: JSON_TYPE, body, headers: { "cache-control": "no-store" } };
  },

  /** One row per endpoint of the release with its hits. */
  async "coverage.csv"(query, data) {
    const report = await data.coverage(parseFilters(query, data));
    return {
      status: 200,
      type: "text/csv; charset=utf-8",
      body: Buffer.from(coverageCsv(report.endpoints)),
      headers: {
        "content-disposition": `inline; filename="apisnoop-coverage-${report.release}.csv"`,
        "cache-control": "no-store",
      },
    };
  },

  /**
   * What the selection's workloads use that no recorded conformance test exercises: endpoints, fields and
   * alpha/beta endpoints, ranked; `limit` rows per list at most.
   */
  async priorities(query, data) {
    const report = await data.priorities(parseFilters(query, data), prioritiesLimit(query));
    return {
      status: 200,
      type: JSON_TYPE,
      body: Buffer.from(JSON.stringify(report)),
      headers: { "cache-control": "no-store" },
    };
  },

  /** The priorities lists as one CSV table (`list` tells them apart), as `apisnoop priorities --format csv`. */
  async "priorities.csv"(query, data) {
    const report = await data.priorities(parseFilters(query, data), prioritiesLimit(query));
    return {
      status: 200,
      type: "text/csv; charset=utf-8",
      body: Buffer.from(formatPrioritiesCsv(report)),
      headers: {
        "content-disposition": `inline; filename="apisnoop-priorities-${report.release}.csv"`,
        "cache-control": "no-store",
      },
    };
  },

  /** The priorities lists as Markdown, for an issue or a meeting's notes. */
  async "priorities.md"(query, data) {
    const report = await data.priorities(parseFilters(query, data), prioritiesLimit(query));
    return {
      status: 200,
      type: "text/markdown; charset=utf-8",
      body: Buffer.from(formatPrioritiesMarkdown(report)),
      headers: { "cache-control": "no-store" },
    };
  },

  /**
   * A coverage badge for READMEs: `metric` picks the share (all endpoints of the selection, stable, or
   * conformance-eligible), `label` the left-hand text.
   */
  async "badge.svg"(query, data) {
    const filters = parseFilters(query, data);
    const metric = query.get("metric") ?? "all";
    if (!BADGE_METRICS.includes(metric as BadgeMetric)) {
      throw new ApiError(400, `metric must be one of ${BADGE_METRICS.join(", ")}, not '${metric}'`);
    }
    const label = (query.get("label") ?? "k8s API coverage").slice(0, 64);
    const { endpoints } = await data.coverage(filters);
    const { hit, total } = badgeFigures(endpoints, metric as BadgeMetric);
    return {
      status: 200,
      type: "image/svg+xml; charset=utf-8",
      body: Buffer.from(coverageBadge(label, hit, total)),
      headers: { "cache-control": "no-cache, max-age=0" },
    };
  },
};

/** The most rows of each priorities list one request may ask for. */
const MAX_PRIORITIES_LIMIT = 100_000;

/** `limit` of a priorities request: rows per list, DEFAULT_PRIORITIES_LIMIT when absent. */
function prioritiesLimit(query: URLSearchParams): number {
  const given = query.get("limit");
  if (given === null || given.trim() === "") return DEFAULT_PRIORITIES_LIMIT;
  const limit = Number(given);
  if (!/^\d+$/.test(given.trim()) || limit < 1 || limit > MAX_PRIORITIES_LIMIT) {
    throw new ApiError(400, `limit must be a whole number from 1 to ${MAX_PRIORITIES_LIMIT}, not '${given}'`);
  }
  return limit;
}

/** An answer other than 200, with the message for the JSON error body. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parseFilters(query: URLSearchParams, data: DashboardData): DashboardFilters {
  const parsed = data.parseFilters(query);
  if (!parsed.ok) throw new ApiError(400, parsed.error);
  return parsed.filters;
}

/**
 * Answers a request for the HTTP API (`/api/v1/coverage`, `coverage.csv`, `badge.svg`, `priorities`,
 * `priorities.csv`, `priorities.md`) and returns true;
 * false for any other path, which the caller hands to Next. Served here rather than by Next route
 * handlers because Next's per-request machinery (tracing, web streams, compressing on the event loop)
 * cost more than the query: measured in `npm run bench:dashboard`. Errors are JSON `{ "error": message }`:
 * 400 for a bad filter, 404 for a release that is not loaded or a path that is not part of the API.
 */
export function serveHttpApi(
  request: IncomingMessage,
  response: ServerResponse,
  data: DashboardData,
  log: (line: string) => void,
): boolean {
  // A request target that is no URL at all (an absolute form like `http://[`) is Next's to refuse.
  if (!URL.canParse(request.url ?? "/", "http://localhost")) return false;
  const url = new URL(request.url ?? "/", "http://localhost");
  if (!url.pathname.startsWith(API_PREFIX)) return false;
  const name = url.pathname.slice(API_PREFIX.length);
  const route = Object.hasOwn(routes, name) ? routes[name] : undefined;
  const answered = (async (): Promise<ApiAnswer> => {
    if (!route) throw new ApiError(404, `no such API: ${url.pathname} (see the README's HTTP API)`);
    if (request.method !== "GET" && request.method !== "HEAD") {
      throw new ApiError(405, `${request.method} is not allowed: the HTTP API only reads`);
    }
    return route(url.searchParams, data);
  })();
  answered
    .catch((error: Error) => errorAnswer(error, log))
    .then((answer) => send(request, response, answer))
    .catch((error: Error) => {
      log(`HTTP API: cannot answer ${url.pathname}: ${error.message}`);
      if (!response.headersSent) response.writeHead(500).end();
      else response.destroy();
    });
  return true;
}

function errorAnswer(error: Error, log: (line: string) => void): ApiAnswer {
  const status = error instanceof ApiError ? error.status : error instanceof NotFoundError ? 404 : 500;
  if (status === 500) log(`HTTP API error: ${error.message}`);
  const message = status === 500 ? "internal error; see the server log" : error.message;
  return {
    status,
    type: JSON_TYPE,
    body: Buffer.from(JSON.stringify({ error: message })),
    headers: { "cache-control": "no-store", ...(status === 405 ? { allow: "GET, HEAD" } : {}) },
  };
}

/**
 * Writes an answer, gzipped when the client accepts it and the body is worth it. Compression runs on
 * libuv's thread pool, off the event loop, and a cached body is compressed once.
 */
async function send(request: IncomingMessage, response: ServerResponse, answer: ApiAnswer): Promise<void> {
  let body = answer.body;
  const headers: Record<string, string | number> = {
    "content-type": answer.type,
    vary: "accept-encoding",
    ...answer.headers,
  };
  if (body.length >= 1024 && /\bgzip\b/.test(request.headers["accept-encoding"] ?? "")) {
    let zipped = gzipBodies.get(body);
    if (!zipped) {
      zipped = gzipAsync(body, { level: constants.Z_BEST_SPEED });
      gzipBodies.set(body, zipped);
    }
    body = await zipped;
    headers["content-encoding"] = "gzip";
  }
  headers["content-length"] = body.length;
  response.writeHead(answer.status, headers);
  response.end(request.method === "HEAD" ? undefined : body);
}
