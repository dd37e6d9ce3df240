import { z } from "zod";
import { type Source, SourcePartsSchema } from "./source";

/**
 * One completed request, as the proxy or an importer saw it: what edge aggregation counts
 * (`RollupBuilder`). Paths only: no header, no body value.
 */
export interface Hit {
  /** When the request completed (epoch ms). */
  at: number;
  method: string;
  /** The matched operation, or null for an unknown call. */
  operationId: string | null;
  /** Why nothing matched (unknown calls only). */
  reason?: string;
  /** The request path without its query (kept as the example of an unknown call). */
  path: string;
  /** The HTTP status, or null when no response came back. */
  status: number | null;
  source: Source;
  /** Facts counted per rollup: "watch", "dryRun", "patch:merge", "fields not analysed: protobuf", ... */
  details?: readonly string[];
  /** Field paths of the request body (GUIDE §3) and the unknown ones among them. */
  requestFields?: { fields: Iterable<string>; unknown: Iterable<string> };
  /** Field paths of the response body. */
  responseFields?: { fields: Iterable<string>; unknown: Iterable<string> };
}

/** Field paths of one body in a hits-file line: the fields used and the unknown ones among them (sorted). */
export const HitLineFieldsSchema = z.object({
  fields: z.array(z.string()),
  unknown: z.array(z.string()),
});
export type HitLineFields = z.infer<typeof HitLineFieldsSchema>;

/**
 * One line of a hits file (`apisnoop proxy --out hits.jsonl`): the hit as the proxy writes it and
 * `apisnoop import hits` reads it back. Nothing header-derived but the user agent and the
 * `X-Apisnoop-Source` header; body paths, never body values (GUIDE §4).
 */
export const HitLineSchema = z.object({
  /** Request start, ISO 8601. */
  ts: z.string().refine((text) => !Number.isNaN(Date.parse(text)), "not a time"),
  method: z.string().min(1).max(32),
  /** Path without the query string. */
  path: z.string().startsWith("/"),
  /** Only Kubernetes' own query parameters, in the client's order and encoding, without `?`; "" when none. */
  query: z.string(),
  /** The status the client got; 0 when it went away before any answer. */
  status: z.number().int(),
  durationMs: z.number(),
  /** The operation matched against the proxy's spec (an import matches again, against its release). */
  operationId: z.string().nullable(),
  /** Why nothing matched; only on unmatched hits. */
  reason: z.string().optional(),
  userAgent: z.string().nullable(),
  /** Who made the call: only the parts that are known (GUIDE §2). */
  source: SourcePartsSchema.optional(),
  /** "watch", "dryRun", "patch:merge", "subresource:status", "fields not analysed: protobuf", ... */
  details: z.array(z.string()).optional(),
  requestFields: HitLineFieldsSchema.optional(),
  responseFields: HitLineFieldsSchema.optional(),
});
export type HitLine = z.infer<typeof HitLineSchema>;
