import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { SERVICE_ACCOUNT_DIR, serviceAccountFiles } from "./in-cluster";
import { defaultFiles, loadKubeconfig } from "./kubeconfig-source";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-kubeconfig-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** client-node reads process.env: each comparison sets it for the moment and puts it back. */
const saved = { ...process.env };
afterEach(() => {
  for (const key of ["KUBECONFIG", "HOME", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"]) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** A kubeconfig of one cluster, user and context named after `name`, its CA a relative path. */
function kubeconfig(name: string, current = true): string {
  return `apiVersion: v1
kind: Config
${current ? `current-context: ${name}\n` : ""}clusters:
- name: ${name}
  cluster: {server: "https://${name}.example:6443", certificate-authority: certs/${name}.crt}
users:
- name: ${name}
  user: {token: token-of-${name}}
contexts:
- name: ${name}
  context: {cluster: ${name}, user: ${name}}
`;
}

/** A service account as the kubelet mounts it, under `prefix`. */
function serviceAccount(prefix: string): void {
  mkdirSync(`${prefix}${SERVICE_ACCOUNT_DIR}`, { recursive: true });
  writeFileSync(serviceAccountFiles(prefix).token, "sa-token\n");
  writeFileSync(serviceAccountFiles(prefix).ca, "CA\n");
  writeFileSync(`${prefix}${SERVICE_ACCOUNT_DIR}/namespace`, "apisnoop");
}

describe("loadKubeconfig", () => {
  it("merges $KUBECONFIG's files as client-node's loadFromDefault, the last current-context winning", async () => {
    const a = write("list/a/config", kubeconfig("alpha"));
    const b = write("list/b/config", kubeconfig("beta"));
    const c = write("list/c/config", kubeconfig("gamma", false));
    const env = { KUBECONFIG: [a, "", b, c].join(path.delimiter) };
    const ours = loadKubeconfig({}, env);
    Object.assign(process.env, env);
    const theirs = new KubeConfig();
    theirs.loadFromDefault();
    expect(ours.label).toBe("$KUBECONFIG");
    expect(ours.view.getCurrentCluster()).toEqual(theirs.getCurrentCluster());
    expect(ours.view.getCurrentUser()).toEqual(theirs.getCurrentUser());
    expect(ours.view.getCurrentCluster()).toMatchObject({
      name: "beta",
      caFile: path.join(dir, "list/b/certs/beta.crt"),
    });
    // Another context of the list, and client-node's own KubeConfig of the same source when asked for.
    const gamma = loadKubeconfig({ context: "gamma" }, env);
    expect(gamma.view.getCurrentCluster()?.caFile).toBe(path.join(dir, "list/c/certs/gamma.crt"));
    const loaded = await gamma.clientNode();
    expect(loaded.getCurrentCluster()).toEqual(gamma.view.getCurrentCluster());
    expect(loaded.getCurrentUser()).toEqual(gamma.view.getCurrentUser());
  });

  it("refuses a name two of $KUBECONFIG's files give, with client-node's words", () => {
    const a = write("dup/a", kubeconfig("same"));
    const b = write("dup/b", kubeconfig("same"));
    const env = { KUBECONFIG: `${a}${path.delimiter}${b}` };
    process.env.KUBECONFIG = env.KUBECONFIG;
    expect(() => new KubeConfig().loadFromDefault()).toThrow("Duplicate cluster: same");
    expect(() => loadKubeconfig({}, env)).toThrow(
      "cannot load kubeconfig $KUBECONFIG: Duplicate cluster: same",
    );
  });

  it("reads ~/.kube/config when $KUBECONFIG is unset, before any service account", () => {
    const home = path.join(dir, "home");
    write("home/.kube/config", kubeconfig("homed"));
    const prefix = path.join(dir, "pod-too");
    serviceAccount(prefix);
    const ours = loadKubeconfig({ serviceAccountPrefix: prefix }, { HOME: home });
    process.env.HOME = home;
    delete process.env.KUBECONFIG;
    const theirs = new KubeConfig();
    theirs.loadFromDefault();
    expect(ours.label).toBe("~/.kube/config");
    expect(ours.inCluster).toBe(false);
    expect(ours.view.getCurrentCluster()).toEqual(theirs.getCurrentCluster());
    expect(ours.view.getCurrentCluster()?.caFile).toBe(path.join(home, ".kube/certs/homed.crt"));
  });

  it("uses the pod's service account as client-node's loadFromCluster names it", async () => {
    const prefix = path.join(dir, "pod");
    serviceAccount(prefix);
    const env = {
      HOME: path.join(dir, "no-such-home"),
      KUBERNETES_SERVICE_HOST: "10.96.0.1",
      KUBERNETES_SERVICE_PORT: "443",
    };
    const ours = loadKubeconfig({ serviceAccountPrefix: prefix }, env);
    Object.assign(process.env, env);
    const theirs = new KubeConfig();
    theirs.loadFromCluster(prefix);
    expect(ours.label).toBe("in-cluster");
    expect(ours.inCluster).toBe(true);
    expect(ours.view.getCurrentCluster()).toEqual(theirs.getCurrentCluster());
    expect(ours.view.getCurrentUser()).toEqual(theirs.getCurrentUser());
    expect(ours.view.getCurrentCluster()).toMatchObject({
      server: "https://10.96.0.1:443",
      caFile: `${prefix}/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`,
    });
    expect((await ours.clientNode()).getCurrentCluster()).toEqual(ours.view.getCurrentCluster());
    // An IPv6 service address is bracketed, as client-node and client-go do.
    const v6 = loadKubeconfig(
      { serviceAccountPrefix: prefix },
      { ...env, KUBERNETES_SERVICE_HOST: "fd00::1" },
    );
    expect(v6.view.getCurrentCluster()?.server).toBe("https://[fd00::1]:443");
    expect(() => loadKubeconfig({ serviceAccountPrefix: prefix, context: "other" }, env)).toThrow(
      "kubeconfig in-cluster has no context 'other'",
    );
  });

  it("reads the standard service-account path in production", () => {
    expect(serviceAccountFiles()).toEqual({
      token: "/var/run/secrets/kubernetes.io/serviceaccount/token",
      ca: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    });
  });

  it("says in one line when there is no kubeconfig at all, or a pod without the service's address", () => {
    const nowhere = { HOME: path.join(dir, "empty-home") };
    mkdirSync(nowhere.HOME, { recursive: true });
    expect(() => loadKubeconfig({ serviceAccountPrefix: path.join(dir, "no-pod") }, nowhere)).toThrow(
      /^cannot load kubeconfig in-cluster: none found: no --kubeconfig, \$KUBECONFIG unset, no ~\/\.kube\/config/,
    );
    const prefix = path.join(dir, "pod-without-service");
    serviceAccount(prefix);
    expect(() => loadKubeconfig({ serviceAccountPrefix: prefix }, nowhere)).toThrow(
      /KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is not set/,
    );
  });

  it("never quotes a kubeconfig with a syntax error: its lines hold the token", async () => {
    const file = write(
      "broken/config",
      "apiVersion: v1\nusers:\n- name: a\n  user:\n    token: SUPERSECRETTOKEN\n   bad: [\n",
    );
    for (const load of [
      () => loadKubeconfig({ kubeconfig: file }),
      () => loadKubeconfig({}, { KUBECONFIG: file }),
    ]) {
      const message = (() => {
        try {
          load();
        } catch (error) {
          return (error as Error).message;
        }
        return "loaded";
      })();
      expect(message).toMatch(/^cannot load kubeconfig \S+: bad indentation .*\(line 6, column \d+\)$/);
      expect(message).not.toContain("SUPERSECRET");
    }
    // client-node's own load of a file (for exec plugins) is reduced the same way.
    const good = write("broken/good", kubeconfig("delta"));
    const loaded = loadKubeconfig({ kubeconfig: good });
    writeFileSync(good, "users:\n- user:\n    token: SUPERSECRETTOKEN\n   bad: [\n");
    const failure = await loaded.clientNode().catch((error: unknown) => error);
    expect((failure as Error).message).toMatch(/\(line 4, column \d+\)$/);
    expect((failure as Error).message).not.toContain("SUPERSECRET");
  });
});

describe("defaultFiles", () => {
  it("skips $KUBECONFIG's empty entries and a $HOME that cannot be read", () => {
    expect(defaultFiles({ KUBECONFIG: `${path.delimiter}/a${path.delimiter}` })).toEqual(["/a"]);
    expect(defaultFiles({ HOME: path.join(dir, "missing-home") })).toBeNull();
    expect(defaultFiles({})).toBeNull();
  });
});
