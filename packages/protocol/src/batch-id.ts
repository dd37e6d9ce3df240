import { createHash } from "node:crypto";

/**
 * A batch id made from content instead of chance: a SHA-256 digest of `parts` laid out as a UUID (the
 * version 5 layout), which the ingest schema and PostgreSQL's uuid type accept. The same content gives the
 * same id, and the web app stores a batch id once, so sending or importing the same data twice counts it
 * once.
 */
export function contentBatchId(...parts: string[]): string {
  const hex = createHash("sha256").update(parts.join("\u0000")).digest("hex");
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The id of part `index` of batch `batchId`: the same parts of the same batch always get the same ids. */
export function partBatchId(batchId: string, index: number): string {
  return contentBatchId(batchId, "part", String(index));
}
