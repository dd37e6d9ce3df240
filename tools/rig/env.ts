/**
 * The rig's settings from the environment, read here only and checked before anything starts: the rest of
 * tools/rig gets values, never variable names. Read on every call, not once per process, because the e2e
 * run and the lifecycle tests point RIG_DIR at another rig while they run.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { DEFAULT_AUDIT_REQUEST_RESPONSE, DEFAULT_FEATURE_GATES, parseAuditRequestResponse } from "./config";

/** What a rig start takes from the environment. */
export interface RigStartEnv {
  /** RIG_NODE: "1" a node, "0" API-only; undefined when unset (the owner decides). */
  node: boolean | undefined;
  /** RIG_APISERVER_PORT, RIG_ETCD_PORT, RIG_ETCD_PEER_PORT; unset ones are chosen at start. */
  ports: { apiserver?: number; etcd?: number; etcdPeer?: number };
  /** RIG_AUDIT_REQUEST_RESPONSE as resources (empty: Metadata level only). */
  auditRequestResponse: string[];
  /** RIG_FEATURE_GATES, kube-apiserver's `--feature-gates`. */
  featureGates: string;
  /** kube-controller-manager runs when built, unless RIG_KCM=0. */
  controllerManager: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Where tools/kube/build.sh keeps the built binaries, per version: APISNOOP_KUBE_CACHE, else
 * `$XDG_CACHE_HOME/apisnoop/kube`, else `~/.cache/apisnoop/kube`. An empty variable counts as unset, as
 * in build.sh's `${VAR:-default}`, so both look in the same folder.
 */
export function kubeCacheRoot(env: Env = process.env, home: string = homedir()): string {
  return env.APISNOOP_KUBE_CACHE || join(env.XDG_CACHE_HOME || join(home, ".cache"), "apisnoop", "kube");
}

/** The rig's directory as the environment names it (RIG_DIR), or undefined for the default. */
export function rigDirFromEnv(env: Env = process.env): string | undefined {
  return env.RIG_DIR || undefined;
}

/**
 * The settings of a rig start.
 * @throws Error naming the variable when a port is not a whole number from 1 to 65535, or RIG_NODE is
 * neither "0" nor "1".
 */
export function rigStartEnv(env: Env = process.env): RigStartEnv {
  return {
    node: flag(env, "RIG_NODE"),
    ports: {
      apiserver: port(env, "RIG_APISERVER_PORT"),
      etcd: port(env, "RIG_ETCD_PORT"),
      etcdPeer: port(env, "RIG_ETCD_PEER_PORT"),
    },
    auditRequestResponse: parseAuditRequestResponse(
      env.RIG_AUDIT_REQUEST_RESPONSE ?? DEFAULT_AUDIT_REQUEST_RESPONSE,
    ),
    featureGates: env.RIG_FEATURE_GATES ?? DEFAULT_FEATURE_GATES,
    controllerManager: env.RIG_KCM !== "0",
  };
}

function port(env: Env, name: string): number | undefined {
  const value = env[name];
  if (!value) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1 || number > 65535)
    throw new Error(`rig: ${name}=${JSON.stringify(value)} is not a port (a whole number from 1 to 65535)`);
  return number;
}

function flag(env: Env, name: string): boolean | undefined {
  const value = env[name];
  if (value === undefined || value === "") return undefined;
  if (value === "1") return true;
  if (value === "0") return false;
  throw new Error(`rig: ${name}=${JSON.stringify(value)} is neither 1 nor 0`);
}
