/**
 * The image tooling's settings from the environment, read here only: the rest of tools/images gets
 * values. Read on every call, not once per process, because tests point the cache at a folder of their own.
 */
import { homedir } from "node:os";
import { join } from "node:path";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Where built layers, stages and image archives are cached: APISNOOP_IMAGE_CACHE, else
 * `$XDG_CACHE_HOME/apisnoop/images`, else `~/.cache/apisnoop/images`. An empty variable counts as unset,
 * as for the kube cache (tools/rig/env.ts), so an exported-but-empty variable never means the working
 * directory.
 */
export function imageCacheDir(env: Env = process.env, home: string = homedir()): string {
  return env.APISNOOP_IMAGE_CACHE || join(env.XDG_CACHE_HOME || join(home, ".cache"), "apisnoop", "images");
}
