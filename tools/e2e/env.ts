/**
 * The conformance tooling's settings from the environment, read here only: the rest of tools/e2e gets
 * values. Read on every call, not once per process, because tests and the e2e rig change them while they
 * run. An empty variable counts as unset, as in tools/rig/env.ts.
 */
import { join } from "node:path";

type Env = Readonly<Record<string, string | undefined>>;

/** E2E_WORK_DIR: where conformance runs keep their rig and outputs; undefined for the default. */
export function e2eWorkDirFromEnv(env: Env = process.env): string | undefined {
  return env.E2E_WORK_DIR || undefined;
}

/** E2E_RIG_DIR: the e2e rig's directory, for the node and the API-only run alike; undefined for the default. */
export function e2eRigDirFromEnv(env: Env = process.env): string | undefined {
  return env.E2E_RIG_DIR || undefined;
}

/**
 * E2E_TEST_BINARY: a prebuilt e2e.test to run instead of building one (it must match the rig's Kubernetes
 * version); undefined to build.
 */
export function prebuiltE2eBinary(env: Env = process.env): string | undefined {
  return env.E2E_TEST_BINARY || undefined;
}

/**
 * E2E_REQUIRED=1: the conformance tests must run, not skip, when e2e.test is missing (CI sets it after
 * building e2e.test, so a lost binary fails rather than passes silently).
 */
export function e2eRequired(env: Env = process.env): boolean {
  return env.E2E_REQUIRED === "1";
}

/**
 * Go's module cache, where the upstream test images' sources are: GOMODCACHE, else `$HOME/go/pkg/mod`
 * (Go's default with GOPATH unset), with HOME defaulting to /root as on the CI machine.
 */
export function goModCache(env: Env = process.env): string {
  return env.GOMODCACHE || join(env.HOME || "/root", "go", "pkg", "mod");
}

/** What `npm run bench:conformance` takes from the environment. */
export interface ConformanceBenchEnv {
  /** BENCH_CHUNK: tests per pair (default 12); the selection is cut into chunks of about that many. */
  chunk: number;
  /** BENCH_PAIRS: pairs at most (default 60); a pair runs one chunk direct and through the proxy. */
  pairs: number;
  /** BENCH_MINUTES: no pair starts after this many minutes of pairs (default 25): the bench lock is shared. */
  minutes: number;
  /** BENCH_TESTS: the selection's name (default `api`); wall-time.bench.ts knows the names. */
  tests: string;
  /** BENCH_ONLY: a regular expression keeping part of the selection; undefined keeps all. */
  only: RegExp | undefined;
  /** BENCH_PROCS: parallel e2e processes (default 4 with a node, else 1). */
  procs: number;
}

/**
 * The settings of a conformance benchmark; `withNode` says whether the selection runs on a node (it sets
 * BENCH_PROCS's default).
 * @throws Error naming the variable when BENCH_CHUNK, BENCH_PAIRS, BENCH_MINUTES or BENCH_PROCS is not a
 * whole number from 1, or
 * BENCH_ONLY is not a regular expression.
 */
export function conformanceBenchEnv(
  withNode: (tests: string) => boolean,
  env: Env = process.env,
): ConformanceBenchEnv {
  const tests = env.BENCH_TESTS || "api";
  let only: RegExp | undefined;
  try {
    only = env.BENCH_ONLY ? new RegExp(env.BENCH_ONLY) : undefined;
  } catch (error) {
    throw new Error(
      `BENCH_ONLY=${JSON.stringify(env.BENCH_ONLY)} is not a regular expression: ${(error as Error).message}`,
    );
  }
  return {
    chunk: count(env, "BENCH_CHUNK", 12),
    pairs: count(env, "BENCH_PAIRS", 60),
    minutes: count(env, "BENCH_MINUTES", 25),
    tests,
    only,
    procs: count(env, "BENCH_PROCS", withNode(tests) ? 4 : 1),
  };
}

function count(env: Env, name: string, fallback: number): number {
  const value = env[name];
  if (!value) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new Error(`${name}=${JSON.stringify(value)} is not a whole number from 1`);
  }
  return Number(value);
}

/**
 * Sets (or, for undefined, removes) environment variables and returns a function that restores them: the
 * rig's functions read RIG_DIR on every call, so the e2e rig is chosen by pointing it there for a while.
 */
export function withEnv(values: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]));
  const apply = (entries: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(values);
  return () => apply(saved);
}
