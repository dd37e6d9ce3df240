/**
 * Where the proxy's kubeconfig comes from, decided in one place and in client-node's order
 * (`KubeConfig.loadFromDefault`): a file given by name, else the files `$KUBECONFIG` lists, else
 * `~/.kube/config`, else the pod's service account. Every one is read without loading client-node (its
 * package pulls its whole generated API into the start); client-node's own `KubeConfig` of the same source
 * is loaded only on demand, for credentials only it applies (exec plugins, auth providers) and the pod
 * informer.
 */
import { accessSync, existsSync } from "node:fs";
import path from "node:path";
import { kubeconfigErrorLine } from "@apisnoop/openapi/kubeconfig-error";
import type { KubeConfig } from "@kubernetes/client-node";
import { InClusterConfig, inCluster } from "./in-cluster";
import { KubeconfigFile, type KubeconfigView } from "./kubeconfig-file";

/** Where to read the upstream from: a kubeconfig file (else $KUBECONFIG, ~/.kube/config, in-cluster). */
export interface UpstreamSource {
  kubeconfig?: string;
  context?: string;
  /**
   * Prepended to the service account's standard path, as client-node's `loadFromCluster(pathPrefix)`:
   * only for tests on a machine that is not a pod. The CLI never sets it.
   */
  serviceAccountPrefix?: string;
  /** How long an in-cluster token is used before its file is read again (default a minute, as client-go). */
  tokenMaxAgeMs?: number;
}

/** A kubeconfig found and read, with its context applied. */
export interface LoadedKubeconfig {
  view: KubeconfigView;
  /** How errors name it: the file, `$KUBECONFIG`, `~/.kube/config` or `in-cluster`. */
  label: string;
  /** Whether it is the pod's service account. */
  inCluster: boolean;
  /** client-node's KubeConfig of the same source and context, loaded on first call. */
  clientNode: () => Promise<KubeConfig>;
}

/**
 * Finds and reads the kubeconfig of `source`.
 * @throws Error (one line) when the file cannot be read or parsed, the context is missing, or there is no
 * kubeconfig at all.
 */
export function loadKubeconfig(
  source: UpstreamSource,
  env: NodeJS.ProcessEnv = process.env,
): LoadedKubeconfig {
  const files = source.kubeconfig ? [source.kubeconfig] : defaultFiles(env);
  const prefix = source.serviceAccountPrefix ?? "";
  const label =
    source.kubeconfig ?? (env.KUBECONFIG ? "$KUBECONFIG" : files ? "~/.kube/config" : "in-cluster");
  let view: KubeconfigView;
  try {
    if (files) view = KubeconfigFile.loadAll(files);
    else if (inCluster(prefix)) view = new InClusterConfig(prefix, env);
    else {
      throw new Error(
        "none found: no --kubeconfig, $KUBECONFIG unset, no ~/.kube/config, and no service-account token (not in a pod)",
      );
    }
  } catch (error) {
    throw new Error(`cannot load kubeconfig ${label}: ${kubeconfigErrorLine(error)}`);
  }
  if (source.context) {
    if (!view.getContextObject(source.context))
      throw new Error(`kubeconfig ${label} has no context '${source.context}'`);
    view.setCurrentContext(source.context);
  }
  let loaded: Promise<KubeConfig> | null = null;
  const clientNode = async (): Promise<KubeConfig> => {
    const { KubeConfig } = await import("./client-node-config");
    const config = new KubeConfig();
    // client-node parses with js-yaml too: its errors would quote the file, as KubeconfigFile's would.
    try {
      if (files) {
        config.loadFromFile(files[0] as string);
        for (const file of files.slice(1)) {
          const next = new KubeConfig();
          next.loadFromFile(file);
          config.mergeConfig(next);
        }
      } else config.loadFromCluster(prefix);
    } catch (error) {
      throw new Error(`cannot load kubeconfig ${label}: ${kubeconfigErrorLine(error)}`);
    }
    if (source.context) config.setCurrentContext(source.context);
    return config;
  };
  return {
    view,
    label,
    inCluster: !files,
    clientNode: () => {
      loaded ??= clientNode();
      return loaded;
    },
  };
}

/**
 * The files client-node's `loadFromDefault` reads before it looks for a service account: `$KUBECONFIG`'s
 * list (empty entries skipped), else `$HOME/.kube/config` when $HOME is accessible and the file exists;
 * null for neither.
 */
export function defaultFiles(env: NodeJS.ProcessEnv = process.env): string[] | null {
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(path.delimiter).filter((file) => file);
    if (files.length > 0) return files;
  }
  if (!env.HOME) return null;
  try {
    accessSync(env.HOME);
  } catch {
    return null;
  }
  const file = path.join(env.HOME, ".kube", "config");
  return existsSync(file) ? [file] : null;
}
