/**
 * Test fixture: an apisnoop proxy in front of the kube rig (tools/rig), with proxied kubeconfigs for each
 * rig user and both modes. Used by the `*.rig.test.ts` files only.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type HitLine, HitLineSchema } from "@apisnoop/protocol";
import {
  type ClientMode,
  type ProxyOptions,
  proxiedKubeconfig,
  type RunningProxy,
  startProxy,
} from "@apisnoop/proxy";
import { type RigUser, rigKubeconfigPath } from "../rig/rig";

export interface RigProxy {
  proxy: RunningProxy;
  /** Scratch directory: CA, hits, logs, kubeconfigs. */
  dir: string;
  hitsPath: string;
  logPath: string;
  /** A kubeconfig for `user` whose traffic goes through the proxy in `mode`. */
  kubeconfig(user: RigUser, mode: ClientMode): string;
  /** The hits written so far (waits for the file to catch up with `atLeast` lines). */
  hits(atLeast?: number): Promise<HitLine[]>;
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port in front of the rig, authenticated as `proxyUser` for its own calls. */
export async function startRigProxy(
  proxyUser: RigUser = "admin",
  spec = "live",
  extra: Partial<ProxyOptions> = {},
): Promise<RigProxy> {
  const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-proxy-"));
  const hitsPath = path.join(dir, "hits.jsonl");
  const logPath = path.join(dir, "proxy.log");
  writeFileSync(logPath, "");
  const logLines: string[] = [];
  const proxy = await startProxy({
    kubeconfig: rigKubeconfigPath(proxyUser),
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: { host: "127.0.0.1", port: 0 },
    spec,
    out: hitsPath,
    caDir: path.join(dir, "ca"),
    log: (line) => {
      logLines.push(line);
      writeFileSync(logPath, `${logLines.join("\n")}\n`);
    },
    ...extra,
  });
  const written = new Map<string, string>();
  return {
    proxy,
    dir,
    hitsPath,
    logPath,
    kubeconfig(user, mode) {
      const key = `${user}-${mode}`;
      let file = written.get(key);
      if (!file) {
        file = path.join(dir, `kubeconfig-${key}.yaml`);
        writeFileSync(
          file,
          proxiedKubeconfig({
            from: rigKubeconfigPath(user),
            proxyUrl: proxy.url,
            mode,
            caPem: proxy.ca.certificatePem,
          }),
        );
        written.set(key, file);
      }
      return file;
    },
    async hits(atLeast = 0) {
      const deadline = Date.now() + 5000;
      for (;;) {
        let text = "";
        try {
          text = readFileSync(hitsPath, "utf8");
        } catch {
          // not written yet
        }
        const hits = text
          .split("\n")
          .filter(Boolean)
          .map((line) => HitLineSchema.parse(JSON.parse(line)));
        if (hits.length >= atLeast || Date.now() > deadline) return hits;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () => proxy.close(),
  };
}
