// Generates the Prisma client into packages/db/src/generated (run by packages/db's postinstall).
// Prisma 7 checks for a schema engine binary even for `generate`, which needs none; that binary cannot be
// downloaded here, so any existing file stands in for it unless the environment names a real one.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(fileURLToPath(import.meta.url), "../..");
const env = { ...process.env };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}
env.PRISMA_HIDE_UPDATE_MESSAGE = "1";
const cli = path.join(
  path.dirname(
    createRequire(path.join(root, "packages", "db", "package.json")).resolve("prisma/package.json"),
  ),
  "build/index.js",
);
const result = spawnSync(
  process.execPath,
  [cli, "generate", "--schema", path.join(root, "prisma", "schema.prisma"), "--no-hints"],
  { cwd: root, env, stdio: "inherit" },
);
process.exit(result.status ?? 1);
