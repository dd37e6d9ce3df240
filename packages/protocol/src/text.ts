import { z } from "zod";

/**
 * A string the web app stores: at most `max` characters and no NUL, which PostgreSQL's text and jsonb
 * refuse. A batch holding one is refused as invalid (not retried), and an importer reports the record.
 */
export function text(max: number, min = 0) {
  return z
    .string()
    .min(min)
    .max(max)
    .refine((value) => !value.includes("\u0000"), "contains a NUL character");
}
