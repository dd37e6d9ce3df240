/** Debian's real kubectl against the rig: CRUD + server-side apply + watch, each call found in the audit log. */
import { execFileSync, spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { waitForAudit } from "./audit";
import { readRigState, rigKubeconfigPath } from "./rig";
import { missingCalls, rigTestObjects, uniqueNamespace } from "./test-objects";

const namespace = uniqueNamespace("rig-kubectl");
const created = rigTestObjects(namespace, "created");
const applied = rigTestObjects(namespace, "applied");

function kubectl(args: string[], input?: unknown): string {
  return execFileSync("kubectl", ["--kubeconfig", rigKubeconfigPath("admin"), ...args], {
    encoding: "utf8",
    input: input === undefined ? undefined : JSON.stringify(input),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

function getJson(kind: string, name: string, ns?: string): { metadata: { labels?: Record<string, string> } } {
  return JSON.parse(kubectl(["get", kind, name, ...(ns ? ["-n", ns] : []), "-o", "json"]));
}

describe("kubectl against the rig", () => {
  afterAll(() => {
    // Best effort when a test failed half-way; the namespace may already be gone.
    execFileSync("kubectl", [
      "--kubeconfig",
      rigKubeconfigPath("admin"),
      "delete",
      "namespace",
      namespace,
      "--ignore-not-found",
      "--wait=false",
    ]);
  });

  it("reads /readyz and the server version", () => {
    expect(kubectl(["get", "--raw", "/readyz"])).toBe("ok");
    const version = JSON.parse(kubectl(["version", "-o", "json"])) as {
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toBe(readRigState().kubeVersion);
  });

  it("creates, gets and server-side-applies a Namespace, a ConfigMap and a Deployment", () => {
    for (const object of [created.namespace, created.configMap, created.deployment]) {
      kubectl(["create", "-f", "-"], object);
    }
    expect(getJson("namespace", namespace).metadata.labels?.["apisnoop.dev/rig-test"]).toBe("created");
    expect(getJson("configmap", "rig-config", namespace).metadata.labels?.["apisnoop.dev/rig-test"]).toBe(
      "created",
    );
    expect(
      getJson("deployment", "rig-deployment", namespace).metadata.labels?.["apisnoop.dev/rig-test"],
    ).toBe("created");

    for (const object of [applied.namespace, applied.configMap, applied.deployment]) {
      kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=rig-test", "-f", "-"], object);
    }
    const cm = getJson("configmap", "rig-config", namespace) as {
      metadata: { labels?: Record<string, string> };
      data?: Record<string, string>;
    };
    expect(cm.metadata.labels?.["apisnoop.dev/rig-test"]).toBe("applied");
    expect(cm.data?.greeting).toBe("hello applied");
  });

  it("receives an event on a watch", async () => {
    const watch = spawn(
      "kubectl",
      [
        "--kubeconfig",
        rigKubeconfigPath("admin"),
        "get",
        "configmaps",
        "-n",
        namespace,
        "--watch-only",
        "--output-watch-events",
        "-o",
        "json",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      let output = "";
      const event = new Promise<string>((resolve) => {
        watch.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('"type"') && output.includes("rig-watched")) resolve(output);
        });
      });
      // The watch must be established before the change, or --watch-only has nothing to report: retry the change.
      let i = 0;
      const timer = setInterval(() => {
        i += 1;
        kubectl(["create", "configmap", `rig-watched-${i}`, "-n", namespace, "--from-literal=k=v"]);
      }, 500);
      try {
        const received = await event;
        expect(received).toMatch(/"type":\s*"ADDED"/);
      } finally {
        clearInterval(timer);
      }
    } finally {
      watch.kill("SIGTERM");
    }
  });

  it("deletes the Deployment, the ConfigMap and the Namespace", () => {
    kubectl(["delete", "deployment", "rig-deployment", "-n", namespace]);
    kubectl(["delete", "configmap", "rig-config", "-n", namespace]);
    // Without kube-controller-manager a namespace stays Terminating, so do not wait for it to vanish.
    kubectl(["delete", "namespace", namespace, "--wait=false"]);
    expect(kubectl(["get", "deployments", "-n", namespace, "-o", "name"]).trim()).toBe("");
  });

  it("finds every one of those requests in the audit log under user admin", async () => {
    const events = await waitForAudit("admin", (e) => missingCalls(e, namespace).length === 0).catch(
      () => null,
    );
    const mine = (events ?? []).filter(
      (e) => e.objectRef?.namespace === namespace || e.objectRef?.name === namespace,
    );
    expect(missingCalls(mine, namespace)).toEqual([]);
    expect(mine.every((e) => e.userAgent?.startsWith("kubectl/"))).toBe(true);
  });
});
