import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";

/** One JSON document of a log, or the reason it could not be read, with the line it starts on. */
export type LogRecord = { line: number; value: unknown } | { line: number; error: string };

/** A pretty-printed object longer than this is taken as malformed rather than buffered without end. */
const MAX_OBJECT_LINES = 10_000;

/**
 * Reads JSON objects from a stream: one per line (JSON lines, the audit log's format) or pretty-printed
 * over several lines (as some tools and apisnoop's samples write them). A line that cannot start or
 * complete an object is reported with its line number; reading goes on.
 */
export async function* readJsonObjects(input: Readable): AsyncGenerator<LogRecord> {
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let buffer = "";
  let start = 0;
  let count = 0;
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    const trimmed = line.trim();
    if (count === 0) {
      if (trimmed === "") continue;
      start = lineNumber;
      if (!trimmed.startsWith("{")) {
        yield { line: lineNumber, error: "not a JSON object" };
        continue;
      }
    }
    buffer = count === 0 ? line : `${buffer}\n${line}`;
    count++;
    if (!trimmed.endsWith("}")) {
      if (count === 1 && trimmed !== "{") {
        // A one-line object that does not end: a truncated JSON line, not the head of a pretty object.
        yield { line: start, error: "truncated JSON object" };
        buffer = "";
        count = 0;
      }
      continue;
    }
    try {
      const value = JSON.parse(buffer);
      yield { line: start, value };
      buffer = "";
      count = 0;
    } catch (error) {
      // A one-line object that fails to parse is malformed; a multi-line one may just be incomplete yet.
      if (count === 1 || count >= MAX_OBJECT_LINES) {
        yield { line: start, error: `invalid JSON: ${(error as Error).message}` };
        buffer = "";
        count = 0;
      }
    }
  }
  if (count > 0) yield { line: start, error: "unterminated JSON object at end of file" };
}

/** Opens a log file for reading, transparently gunzipping `.gz` files. */
export function openLog(path: string): Readable {
  const stream = createReadStream(path);
  return path.endsWith(".gz") ? stream.pipe(createGunzip()) : stream;
}
