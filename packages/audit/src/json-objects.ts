import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";

/** One JSON document of a log, or the reason it could not be read, with the line it starts on. */
export type LogRecord = { line: number; value: unknown } | { line: number; error: string };

/**
 * A record (one line, or a pretty-printed object over several) longer than this is reported and skipped,
 * never held whole. 16 MiB: a RequestResponse audit event of the apiserver's largest object (3 MiB
 * requests, responses of the same order) fits several times.
 */
export const MAX_RECORD_BYTES = 16 * 2 ** 20;

const MIB = 2 ** 20;

/** Options of `readJsonObjects`. */
export interface ReadJsonOptions {
  /** Longest record kept (default `MAX_RECORD_BYTES`). */
  maxRecordBytes?: number;
}

/**
 * Reads JSON objects from a stream: one per line (JSON lines, the audit log's format) or pretty-printed
 * over several lines (as some tools and apisnoop's samples write them). What cannot be read is reported
 * with its line number and reading goes on:
 * - a line or an object longer than `maxRecordBytes` is skipped without being held in memory;
 * - an object left open (a stray `{`, a torn record) ends where the next record starts — a line opening
 *   an object at the open one's indentation or less — so the events after it are read, not swallowed;
 * - a line that is not JSON is reported, and the next line is read afresh.
 */
export async function* readJsonObjects(
  input: Readable,
  options: ReadJsonOptions = {},
): AsyncGenerator<LogRecord> {
  const maxBytes = options.maxRecordBytes ?? MAX_RECORD_BYTES;
  const tooLong = `longer than ${maxBytes >= MIB ? `${maxBytes / MIB} MiB` : `${maxBytes} bytes`}, skipped`;
  /** The open multi-line object: its lines, size, first line and indentation. */
  let open: { lines: string[]; bytes: number; start: number; indent: number } | null = null;
  /** An open object grew past the limit: its remaining lines are skipped until the next record starts. */
  let skipping: { indent: number } | null = null;

  for await (const line of readLines(input, maxBytes)) {
    if (line.text === null) {
      if (open) {
        yield { line: open.start, error: `JSON object ${tooLong}` };
        skipping = { indent: open.indent };
        open = null;
      } else if (!skipping) yield { line: line.number, error: `line ${tooLong}` };
      continue;
    }
    const text = line.text;
    const indent = indentationOf(text);
    const trimmed = text.trim();
    const startsRecord = trimmed.startsWith("{");
    if (skipping) {
      if (!(startsRecord && indent <= skipping.indent)) continue;
      skipping = null;
    }
    // A new object begins where the open one should have gone on — at its indentation or less, or right
    // after its bare `{` (an object's first line is a member or its `}`): the open one is broken.
    if (open && startsRecord && (indent <= open.indent || open.lines.length === 1)) {
      yield { line: open.start, error: "unterminated JSON object" };
      open = null;
    }
    if (!open) {
      if (trimmed === "") continue;
      if (!startsRecord) {
        yield { line: line.number, error: "not a JSON object" };
        continue;
      }
      if (trimmed !== "{") {
        if (!trimmed.endsWith("}")) {
          // A one-line object that does not end: a torn JSON line, not the head of a pretty object.
          yield { line: line.number, error: "truncated JSON object" };
          continue;
        }
        const parsed = parse(text);
        if (parsed.ok) yield { line: line.number, value: parsed.value };
        else yield { line: line.number, error: `invalid JSON: ${parsed.error}` };
        continue;
      }
      open = { lines: [text], bytes: text.length, start: line.number, indent };
      continue;
    }
    open.lines.push(text);
    open.bytes += text.length + 1;
    if (open.bytes > maxBytes) {
      yield { line: open.start, error: `JSON object ${tooLong}` };
      skipping = { indent: open.indent };
      open = null;
      continue;
    }
    // Only a closing brace at the object's own indentation can end it (nested ones are indented deeper).
    if (indent <= open.indent && trimmed.endsWith("}")) {
      const parsed = parse(open.lines.join("\n"));
      if (parsed.ok) {
        yield { line: open.start, value: parsed.value };
        open = null;
      }
    }
  }
  if (open) yield { line: open.start, error: "unterminated JSON object at end of file" };
}

function parse(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: (error as Error).message.slice(0, 200) };
  }
}

function indentationOf(text: string): number {
  let index = 0;
  while (index < text.length && (text[index] === " " || text[index] === "\t")) index++;
  return index;
}

/** One line of input: its text, or null when it was longer than the limit (its bytes were dropped). */
interface Line {
  number: number;
  text: string | null;
}

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into lines ("\n" or "\r\n") decoded as UTF-8, holding at most `maxBytes` of one
 * line: the rest of a longer line is dropped as it streams by and the line is given as `text: null`.
 */
export async function* readLines(
  input: AsyncIterable<Buffer | string>,
  maxBytes: number,
): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let held = 0;
  let overflow = false;
  let number = 0;
  const finish = (tail: Buffer | null): Line => {
    number++;
    if (overflow) {
      parts = [];
      held = 0;
      overflow = false;
      return { number, text: null };
    }
    const bytes = tail ? (parts.length > 0 ? Buffer.concat([...parts, tail]) : tail) : Buffer.concat(parts);
    parts = [];
    held = 0;
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
    return { number, text: bytes.toString("utf8", 0, end) };
  };
  for await (const chunk of input) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    let from = 0;
    for (;;) {
      const newline = buffer.indexOf(NEWLINE, from);
      const end = newline === -1 ? buffer.length : newline;
      if (!overflow) {
        if (held + (end - from) > maxBytes) {
          overflow = true;
          parts = [];
          held = 0;
        } else if (newline === -1 && end > from) {
          // Copied: the stream may reuse its chunk's memory.
          parts.push(Buffer.from(buffer.subarray(from, end)));
          held += end - from;
        }
      }
      if (newline === -1) break;
      yield finish(overflow ? null : buffer.subarray(from, end));
      from = newline + 1;
    }
  }
  if (held > 0 || overflow) yield finish(null);
}

/** Opens a log file for reading, transparently gunzipping `.gz` files. */
export function openLog(path: string): Readable {
  const stream = createReadStream(path);
  return path.endsWith(".gz") ? stream.pipe(createGunzip()) : stream;
}
