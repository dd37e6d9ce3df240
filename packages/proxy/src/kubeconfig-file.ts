/**
 * A kubeconfig file read as client-node's `KubeConfig.loadFromFile` reads it — its own entry parsers and
 * checks (`config_types.js`), `current-context`, relative file paths taken from the file's folder — without
 * loading client-node's `KubeConfig`, which pulls in its whole generated API and HTTP stack: in the
 * compiled proxy a 1.8 MB chunk, about a third of the CPU the proxy spends before it is ready.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { kubeconfigErrorLine } from "@apisnoop/openapi/kubeconfig-error";
import {
  type Cluster,
  type Context,
  newClusters,
  newContexts,
  newUsers,
  type User,
} from "@kubernetes/client-node/dist/config_types.js";
import { load as loadYaml } from "js-yaml";

/** The parts of a kubeconfig the proxy's upstream is resolved from; method names as client-node's. */
export interface KubeconfigView {
  getContextObject(name: string): Context | null;
  setCurrentContext(name: string): void;
  getCurrentCluster(): Cluster | null;
  getCurrentUser(): User | null;
}

/** One kubeconfig file, loaded. */
export class KubeconfigFile implements KubeconfigView {
  private constructor(
    private readonly clusters: Cluster[],
    private readonly users: User[],
    private readonly contexts: Context[],
    private currentContext: string | undefined,
  ) {}

  /**
   * Reads and parses `file`; throws client-node's errors (`clusters[0].cluster.server is missing`, …), and
   * for a YAML syntax error only its reason and position (`kubeconfigErrorLine`): js-yaml's message quotes
   * the lines around the error, a token or a client key in a kubeconfig, and it would be logged at start.
   */
  static load(file: string): KubeconfigFile {
    const text = readFileSync(file, "utf8");
    let document: Record<string, unknown> | null | undefined;
    try {
      document = loadYaml(text) as typeof document;
    } catch (error) {
      throw new Error(kubeconfigErrorLine(error));
    }
    if (!document || typeof document !== "object") throw new Error("not a kubeconfig (no YAML mapping)");
    const clusters = newClusters(document.clusters);
    const users = newUsers(document.users);
    const root = path.dirname(file);
    for (const cluster of clusters)
      if (cluster.caFile) setField(cluster, "caFile", absolute(root, cluster.caFile));
    for (const user of users) {
      if (user.certFile) setField(user, "certFile", absolute(root, user.certFile));
      if (user.keyFile) setField(user, "keyFile", absolute(root, user.keyFile));
    }
    const current = document["current-context"];
    return new KubeconfigFile(
      clusters,
      users,
      newContexts(document.contexts),
      typeof current === "string" ? current : undefined,
    );
  }

  /**
   * Several files as client-node's `loadFromDefault` reads `$KUBECONFIG`'s list: the first file, then each
   * next one merged in, its `current-context` (when it has one) taking over, and a name given twice an error
   * (`Duplicate cluster: a`).
   */
  static loadAll(files: readonly string[]): KubeconfigFile {
    const [first, ...rest] = files;
    if (first === undefined) throw new Error("no kubeconfig file");
    const merged = KubeconfigFile.load(first);
    for (const file of rest) {
      const next = KubeconfigFile.load(file);
      if (next.currentContext) merged.currentContext = next.currentContext;
      addAll(merged.clusters, next.clusters, "cluster");
      addAll(merged.users, next.users, "user");
      addAll(merged.contexts, next.contexts, "context");
    }
    return merged;
  }

  getContextObject(name: string): Context | null {
    return this.contexts.find((context) => context.name === name) ?? null;
  }

  setCurrentContext(name: string): void {
    this.currentContext = name;
  }

  getCurrentCluster(): Cluster | null {
    const context = this.currentContext === undefined ? null : this.getContextObject(this.currentContext);
    return context ? (this.clusters.find((cluster) => cluster.name === context.cluster) ?? null) : null;
  }

  getCurrentUser(): User | null {
    const context = this.currentContext === undefined ? null : this.getContextObject(this.currentContext);
    return context ? (this.users.find((user) => user.name === context.user) ?? null) : null;
  }
}

/** Appends `added` to `entries`; a name already there is client-node's error. */
function addAll(entries: { name: string }[], added: readonly { name: string }[], kind: string): void {
  for (const entry of added) {
    if (entries.some((known) => known.name === entry.name))
      throw new Error(`Duplicate ${kind}: ${entry.name}`);
    entries.push(entry);
  }
}

/** `file` relative to the kubeconfig's folder, as kubectl and client-node resolve it. */
function absolute(root: string, file: string): string {
  return path.isAbsolute(file) ? file : path.join(root, file);
}

/** client-node's entries are typed read-only; the paths in them are made absolute once, at load. */
function setField<T extends object, K extends keyof T>(entry: T, key: K, value: T[K]): void {
  (entry as Record<K, T[K]>)[key] = value;
}
