/**
 * A deterministic POSIX tar writer for image layers and OCI archives: every entry's owner, mode and type
 * are given by the caller (GNU tar can only override the owner of all entries at once), modification times
 * are 0, and names longer than ustar allows use a PAX `path`/`linkpath` record. Writes synchronously to a
 * file descriptor and reports the SHA-256 and size of what it wrote.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, openSync, readSync, writeSync } from "node:fs";

const BLOCK = 512;

/** One tar entry. Directories and symlinks carry no data; a file's data is a buffer or a host file. */
export type TarEntry =
  | { type: "dir"; path: string; mode: number; uid?: number; gid?: number }
  | { type: "symlink"; path: string; target: string; uid?: number; gid?: number }
  | {
      type: "file";
      path: string;
      mode: number;
      uid?: number;
      gid?: number;
      /** Inline content, or `source` (a host file copied as it is) with its `size`. */
      content?: Buffer;
      source?: string;
      size?: number;
    };

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

/** A 512-byte ustar header; `name`/`linkname` must already fit (long ones go through PAX). */
function header(
  name: string,
  type: string,
  size: number,
  mode: number,
  uid: number,
  gid: number,
  linkname = "",
): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 100, "utf8");
  block.write(octal(mode & 0o7777, 8), 100, "ascii");
  block.write(octal(uid, 8), 108, "ascii");
  block.write(octal(gid, 8), 116, "ascii");
  block.write(octal(size, 12), 124, "ascii");
  block.write(octal(0, 12), 136, "ascii"); // mtime: 0, so equal inputs give equal digests
  block.write("        ", 148, "ascii"); // checksum field counts as spaces while summing
  block.write(type, 156, "ascii");
  block.write(linkname, 157, 100, "utf8");
  block.write("ustar\0", 257, "ascii");
  block.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return block;
}

/** A PAX extended-header record: `<length> <key>=<value>\n`, the length counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return `${length}${body}`;
}

/** Writes tar entries to a file; `finish()` adds the end-of-archive blocks and returns digest and size. */
export class TarWriter {
  private readonly fd: number;
  private readonly hash: Hash = createHash("sha256");
  private size = 0;

  constructor(path: string) {
    this.fd = openSync(path, "w", 0o644);
  }

  private write(buffer: Buffer): void {
    writeSync(this.fd, buffer);
    this.hash.update(buffer);
    this.size += buffer.length;
  }

  private pad(length: number): void {
    const rest = length % BLOCK;
    if (rest !== 0) this.write(Buffer.alloc(BLOCK - rest));
  }

  private entryHeader(
    path: string,
    type: string,
    size: number,
    mode: number,
    uid: number,
    gid: number,
    link = "",
  ) {
    const records: string[] = [];
    let name = path;
    let linkname = link;
    if (Buffer.byteLength(path) > 99) {
      records.push(paxRecord("path", path));
      name = path.slice(0, 99);
    }
    if (Buffer.byteLength(link) > 99) {
      records.push(paxRecord("linkpath", link));
      linkname = link.slice(0, 99);
    }
    if (records.length > 0) {
      const pax = Buffer.from(records.join(""), "utf8");
      this.write(header("PaxHeader", "x", pax.length, 0o644, 0, 0));
      this.write(pax);
      this.pad(pax.length);
    }
    this.write(header(name, type, size, mode, uid, gid, linkname));
  }

  /** Adds one entry (paths are relative, without a leading `/`; directories end with `/`). */
  add(entry: TarEntry): void {
    const uid = entry.uid ?? 0;
    const gid = entry.gid ?? 0;
    if (entry.type === "dir") {
      this.entryHeader(
        entry.path.endsWith("/") ? entry.path : `${entry.path}/`,
        "5",
        0,
        entry.mode,
        uid,
        gid,
      );
      return;
    }
    if (entry.type === "symlink") {
      this.entryHeader(entry.path, "2", 0, 0o777, uid, gid, entry.target);
      return;
    }
    if (entry.content) {
      this.entryHeader(entry.path, "0", entry.content.length, entry.mode, uid, gid);
      this.write(entry.content);
      this.pad(entry.content.length);
      return;
    }
    if (entry.source === undefined || entry.size === undefined)
      throw new Error(`tar: ${entry.path} has no data`);
    this.entryHeader(entry.path, "0", entry.size, entry.mode, uid, gid);
    const input = openSync(entry.source, "r");
    try {
      const chunk = Buffer.alloc(1 << 20);
      let copied = 0;
      while (copied < entry.size) {
        const read = readSync(input, chunk, 0, Math.min(chunk.length, entry.size - copied), copied);
        if (read === 0) throw new Error(`tar: ${entry.source} shrank while being written`);
        this.write(chunk.subarray(0, read));
        copied += read;
      }
    } finally {
      closeSync(input);
    }
    this.pad(entry.size);
  }

  /** Ends the archive and closes the file. */
  finish(): { digest: string; size: number } {
    this.write(Buffer.alloc(BLOCK * 2));
    closeSync(this.fd);
    return { digest: `sha256:${this.hash.digest("hex")}`, size: this.size };
  }
}
