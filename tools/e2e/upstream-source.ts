/**
 * The Go source of the e2e tests the rig runs (k8s.io/kubernetes at the rig's version, in Go's module
 * cache since `npm run e2e:build`), read well enough to ask what a test can call: a test's `It` body, the
 * hooks of its file, and every function of the test tree they reach by name, followed transitively.
 * difference-classes.test.ts checks the premises of the classes that rest on the tests' source with it.
 *
 * The reading over-approximates, so "the source cannot issue this call" is only ever said too rarely:
 * comments are dropped, but a same-package call reaches every function of that name, a call through an
 * imported test package (`e2epod.X`) reaches that package's function, and a method call reaches every
 * method of that name in the packages read, except the client verbs (`Get`, `Create`, …), which reach
 * a method only when its receiver type is named in the text read so far (they are mostly client-go's own
 * calls, the calls looked for). The framework's per-test hooks (namespace, ServiceAccount and
 * `kube-root-ca.crt` waits, node listing, namespace deletion) are not read: every test has them, on both
 * sides of the comparison.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kubeVersions } from "../rig/kube-bin";
import { goModCache } from "./env";

/** The module's import path; only packages under it (`test/e2e/…`, `test/utils/…`) are followed. */
const MODULE = "k8s.io/kubernetes";
const FOLLOWED = [`${MODULE}/test/`];

/** client-go's verbs: a method call by one of these names is most often the API call itself. */
const CLIENT_VERBS = new Set([
  "Get",
  "List",
  "Watch",
  "Create",
  "Update",
  "UpdateStatus",
  "Patch",
  "Apply",
  "ApplyStatus",
  "Delete",
  "DeleteCollection",
  "Do",
  "DoRaw",
  "Raw",
  "Into",
  "Stream",
]);

/** The source tree of k8s.io/kubernetes at the rig's version in Go's module cache. */
export function kubernetesSourceDir(): string {
  return join(goModCache(), "k8s.io", `kubernetes@${kubeVersions().kube}`);
}

/** Whether the module's source is there (it is after `npm run e2e:build`). */
export function kubernetesSourceAvailable(dir = kubernetesSourceDir()): boolean {
  return existsSync(join(dir, "test", "e2e", "framework", "framework.go"));
}

/** Go source with comments blanked out (strings, raw strings and runes kept as they are). */
export function stripGoComments(source: string): string {
  let out = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      i = end === -1 ? source.length : end;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? source.length : end + 2;
      out += source.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      const stop = literalEnd(source, i);
      out += source.slice(i, stop);
      i = stop;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The index just past the string, raw string or rune literal that starts at `start`. */
function literalEnd(source: string, start: number): number {
  const quote = source[start];
  let i = start + 1;
  while (i < source.length && source[i] !== quote) {
    if (quote !== "`" && source[i] === "\\") i++;
    if (quote !== "`" && source[i] === "\n") return i; // unterminated: stop at the line's end
    i++;
  }
  return i + 1;
}

/** The index just past the `}` that closes the `{` at `open` (literals skipped; comments already gone). */
export function closingBrace(source: string, open: number): number {
  let depth = 0;
  let i = open;
  while (i < source.length) {
    const c = source[i];
    if (c === '"' || c === "'" || c === "`") {
      i = literalEnd(source, i);
      continue;
    }
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i + 1;
    i++;
  }
  return source.length;
}

/** One function or method of a package. */
interface GoFunction {
  name: string;
  /** The receiver's type name for a method (`PodClient` of `(c *PodClient)`), else null. */
  receiver: string | null;
  body: string;
  pkg: GoPackage;
}

/** A package's functions and the test-tree packages its files import, by their name in the file. */
interface GoPackage {
  dir: string;
  functions: GoFunction[];
  /** Per file name: import name -> package directory (followed packages only). */
  imports: Map<string, string>;
}

const FUNC = /^func\s+(?:\(\s*\w*\s*\*?\s*(\w+)(?:\[[^\]]*\])?\s*\)\s*)?(\w+)/gm;

function parseImports(source: string, moduleDir: string): Map<string, string> {
  const imports = new Map<string, string>();
  const block = /^import\s*\(([\s\S]*?)^\)/m.exec(source)?.[1] ?? "";
  const single = [...source.matchAll(/^import\s+(\w+\s+)?"([^"]+)"/gm)].map((m) => `${m[1] ?? ""}"${m[2]}"`);
  for (const line of [...block.split("\n"), ...single]) {
    const m = /^\s*(\w+|\.)?\s*"([^"]+)"/.exec(line);
    if (!m) continue;
    const path = m[2] as string;
    if (!FOLLOWED.some((prefix) => path.startsWith(prefix))) continue;
    const name = m[1] ?? (path.split("/").pop() as string);
    imports.set(name, join(moduleDir, path.slice(MODULE.length + 1)));
  }
  return imports;
}

/** Reads the Go files of packages on demand, once each. */
class SourceTree {
  private packages = new Map<string, GoPackage>();
  constructor(readonly moduleDir: string) {}

  package(dir: string): GoPackage {
    let pkg = this.packages.get(dir);
    if (pkg) return pkg;
    pkg = { dir, functions: [], imports: new Map() };
    this.packages.set(dir, pkg);
    if (!existsSync(dir)) return pkg;
    for (const file of readdirSync(dir).sort()) {
      if (!file.endsWith(".go") || file.endsWith("_test.go")) continue;
      const source = stripGoComments(readFileSync(join(dir, file), "utf8"));
      for (const [name, path] of parseImports(source, this.moduleDir)) pkg.imports.set(name, path);
      for (const m of source.matchAll(FUNC)) {
        const open = source.indexOf("{\n", m.index);
        if (open === -1) continue;
        const body = source.slice(m.index, closingBrace(source, open));
        pkg.functions.push({ name: m[2] as string, receiver: m[1] ?? null, body, pkg });
      }
    }
    return pkg;
  }

  loaded(): GoPackage[] {
    return [...this.packages.values()];
  }
}

/** One piece of a test's source: the `It`, a hook of its file, or a function reached. */
export interface SourcePart {
  /** `It`, `hook`, or the function as `dir-relative-to-the-module:Name` (a method `…:Type.Name`). */
  id: string;
  text: string;
}

/** What a test's source can reach. */
export interface TestSource {
  /** The `It` body, its file's hooks and every function reached, comments removed. */
  parts: SourcePart[];
}

/**
 * The source an e2e test can run: the body of the `It` named `it` in `file` (relative to the module, e.g.
 * `test/e2e/apps/deployment.go`), the bodies of the file's `BeforeEach`/`AfterEach`/`JustBeforeEach`
 * hooks, and the functions they reach (see the module comment for how calls are followed), but for the
 * `stop` functions and what only they reach.
 * @throws Error when the file has no such `It`.
 */
export function testSource(
  file: string,
  it: string,
  options: {
    moduleDir?: string;
    /** Functions (ids as in {@link SourcePart}) not to read: what the test reaches only through them is left out. */
    stop?: readonly string[];
  } = {},
): TestSource {
  const moduleDir = options.moduleDir ?? kubernetesSourceDir();
  const stop = new Set(options.stop ?? []);
  const path = join(moduleDir, file);
  const source = stripGoComments(readFileSync(path, "utf8"));
  const start = source.indexOf(`It(${JSON.stringify(it)}`);
  if (start === -1) throw new Error(`${file} has no It(${JSON.stringify(it)})`);
  const open = source.indexOf("{\n", start);
  const roots = [source.slice(start, closingBrace(source, open))];
  for (const hook of source.matchAll(/\b(?:BeforeEach|AfterEach|JustBeforeEach)\(func\(/g)) {
    const hookOpen = source.indexOf("{\n", hook.index);
    roots.push(source.slice(hook.index, closingBrace(source, hookOpen)));
  }
  const tree = new SourceTree(moduleDir);
  const home = tree.package(join(moduleDir, file, ".."));
  const reached = new Map<GoFunction, string>();
  const parts: SourcePart[] = roots.map((text, i) => ({ id: i === 0 ? "It" : "hook", text }));
  const texts: { text: string; pkg: GoPackage }[] = roots.map((text) => ({ text, pkg: home }));
  const methodCalls = new Set<string>();
  let all = roots.join("\n");
  const reach = (fn: GoFunction) => {
    if (reached.has(fn)) return;
    const rel = fn.pkg.dir.slice(moduleDir.length + 1);
    const id = `${rel}:${fn.receiver ? `${fn.receiver}.` : ""}${fn.name}`;
    reached.set(fn, id);
    if (stop.has(id)) return;
    parts.push({ id, text: fn.body });
    texts.push({ text: fn.body, pkg: fn.pkg });
    all += `\n${fn.body}`;
  };
  for (let changed = true; changed; ) {
    changed = false;
    while (texts.length > 0) {
      const { text, pkg } = texts.pop() as { text: string; pkg: GoPackage };
      for (const call of text.matchAll(/(?<![\w.])(\w+)\(/g)) {
        for (const fn of pkg.functions) if (fn.name === call[1] && fn.receiver === null) reach(fn);
      }
      for (const call of text.matchAll(/(?<![\w.])(\w+)\.(\w+)\(/g)) {
        const dir = pkg.imports.get(call[1] as string);
        if (!dir) continue;
        for (const fn of tree.package(dir).functions) {
          if (fn.name === call[2] && fn.receiver === null) reach(fn);
        }
      }
      for (const call of text.matchAll(/\.(\w+)\(/g)) methodCalls.add(call[1] as string);
    }
    for (const pkg of tree.loaded()) {
      for (const fn of pkg.functions) {
        if (fn.receiver === null || reached.has(fn) || !methodCalls.has(fn.name)) continue;
        if (CLIENT_VERBS.has(fn.name) && !all.includes(fn.receiver)) continue;
        reach(fn);
        changed = true;
      }
    }
  }
  return { parts };
}

/**
 * How a test's source would issue one API call: the client accessor (`ConfigMaps(`, `NewPodClient(`, a
 * dynamic client's resource name) and the client verbs that send it. A line issues the call when the verb
 * follows the accessor on it (`….ConfigMaps(ns).Delete(`, `….Pods(ns).Get,` as a method value), or follows
 * a variable that holds such a client: assigned from an expression with the accessor (or from another
 * such variable), declared with the client's interface type, or named in a dynamic `Resource(…)`. Names
 * are tracked across the whole source, not per scope: a line-wise over-approximation.
 */
export interface SourceCall {
  accessor: RegExp;
  /** The typed client's interface (`ConfigMapInterface`): a variable declared with it holds such a client. */
  clientType?: string;
  verbs: readonly string[];
}

/** The parts of `source` with a line that may issue `call` (see {@link SourceCall}). */
export function partsIssuing(source: TestSource, call: SourceCall): string[] {
  const accessor = new RegExp(call.accessor.source);
  const holders = new Set<string>();
  const assignment = /^\s*(\w+)\s*:?=\s*(.*)$/;
  const declared = call.clientType ? new RegExp(`(\\w+)\\s+[\\w.*]*\\b${call.clientType}\\b`, "g") : null;
  if (declared) {
    for (const part of source.parts)
      for (const m of part.text.matchAll(declared)) holders.add(m[1] as string);
  }
  const mentions = (value: string) =>
    accessor.test(value) || [...holders].some((name) => new RegExp(`\\b${name}\\b`).test(value));
  for (let grew = true; grew; ) {
    grew = false;
    for (const part of source.parts) {
      for (const line of part.text.split("\n")) {
        const m = assignment.exec(line);
        const name = m?.[1];
        if (!m || !name || name === "_" || holders.has(name) || !mentions(m[2] as string)) continue;
        holders.add(name);
        grew = true;
      }
    }
  }
  const verbs = `\\.(?:${call.verbs.join("|")})\\b(?=\\s*[(,)])`;
  const issuing = [
    new RegExp(`(?:${accessor.source})[^\\n]*?${verbs}`),
    ...[...holders].flatMap((name) => [
      new RegExp(`\\b${name}${verbs}`),
      new RegExp(`Resource\\([^)]*\\b${name}\\b[^\\n]*?${verbs}`),
    ]),
  ];
  return source.parts
    .filter((part) => part.text.split("\n").some((line) => issuing.some((re) => re.test(line))))
    .map((part) => part.id);
}
