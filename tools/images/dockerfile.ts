/**
 * Reads a Dockerfile into stages of instructions, and a `.dockerignore` into a path matcher — the subset
 * of the Dockerfile reference the project's Dockerfiles use (FROM … AS, WORKDIR, ENV, COPY [--from], RUN,
 * USER, EXPOSE, ENTRYPOINT, CMD; `\` continuations; `#` comments). Pure: the rig builds its images from
 * the same files users build theirs from (dockerfile-image.ts).
 */
import { posix } from "node:path";

/** One instruction: its keyword (upper case), its arguments as written, its line in the file. */
export interface DockerInstruction {
  keyword: string;
  args: string;
  line: number;
}

/** A build stage: `FROM <from> [AS <name>]` and what follows until the next FROM. */
export interface DockerStage {
  from: string;
  name?: string;
  instructions: DockerInstruction[];
}

/** Splits a Dockerfile into stages. @throws Error on an instruction before the first FROM. */
export function parseDockerfile(text: string): DockerStage[] {
  const stages: DockerStage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i] ?? "";
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i++;
      const next = lines[i] ?? "";
      // Comment lines inside a continued instruction are dropped, as Docker does.
      if (/^\s*#/.test(next)) continue;
      line = `${line.replace(/\s*\\\s*$/, "")} ${next.trim()}`;
    }
    const match = /^\s*(\w+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`Dockerfile line ${start}: cannot read '${line.trim()}'`);
    const keyword = (match[1] ?? "").toUpperCase();
    const args = (match[2] ?? "").trim();
    if (keyword === "FROM") {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`Dockerfile line ${start}: cannot read FROM ${args}`);
      stages.push({ from: from[1] ?? "", ...(from[2] && { name: from[2] }), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile line ${start}: ${keyword} before the first FROM`);
    stage.instructions.push({ keyword, args, line: start });
  }
  return stages;
}

/** `["node", "a.mjs"]` (exec form) -> its words; the shell form becomes `/bin/sh -c <text>`. */
export function commandWords(args: string): string[] {
  if (args.startsWith("[")) return JSON.parse(args) as string[];
  return ["/bin/sh", "-c", args];
}

/** `ENV A=1 B="two words"` or the legacy `ENV A 1` -> pairs. */
export function envPairs(args: string): Array<[string, string]> {
  if (!/^\S+=/.test(args)) {
    const [name = "", ...rest] = args.split(/\s+/);
    return [[name, rest.join(" ")]];
  }
  const pairs: Array<[string, string]> = [];
  for (const match of args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = match[2] ?? "";
    pairs.push([match[1] ?? "", raw.startsWith('"') ? (JSON.parse(raw) as string) : raw]);
  }
  return pairs;
}

/** A COPY instruction: the stage it copies from (none: the build context), sources and destination. */
export interface CopyInstruction {
  from?: string;
  sources: string[];
  destination: string;
}

/** Reads `COPY [--from=stage] <src>... <dest>`. @throws Error on options this reader does not know. */
export function copyInstruction(args: string): CopyInstruction {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith("--")) {
    const option = words.shift() ?? "";
    const value = /^--from=(.+)$/.exec(option)?.[1];
    if (!value) throw new Error(`COPY option ${option} is not supported`);
    from = value;
  }
  const destination = words.pop();
  if (!destination || words.length === 0) throw new Error(`COPY ${args}: needs a source and a destination`);
  return { ...(from && { from }), sources: words, destination };
}

/** Resolves a path of an instruction against the stage's WORKDIR. */
export function inWorkdir(workdir: string, path: string): string {
  return posix.resolve(workdir, path);
}

/**
 * A `.dockerignore` as a predicate over context-relative paths (`apps/web/src/x.test.ts`): `**`, `*` and
 * `?` globs, `!` exceptions, the last matching line wins; a directory that matches excludes what is in it.
 */
export function dockerignoreMatcher(text: string): (relative: string) => boolean {
  const rules = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => {
      const negate = line.startsWith("!");
      const pattern = posix
        .normalize((negate ? line.slice(1) : line).replace(/^\/+/, ""))
        .replace(/\/+$/, "");
      const source = pattern
        .split("/")
        .map((part) =>
          part === "**"
            ? "(?:.*)"
            : part
                .replace(/[.+^${}()|[\]\\]/g, "\\$&")
                .replaceAll("*", "[^/]*")
                .replaceAll("?", "[^/]"),
        )
        .join("/")
        .replaceAll("(?:.*)/", "(?:.*/)?");
      return { negate, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (relative: string) => {
    let ignored = false;
    for (const rule of rules) if (rule.regex.test(relative)) ignored = !rule.negate;
    return ignored;
  };
}
