/** The live spec follows the cluster: a new CustomResourceDefinition's operations are matched soon after it appears. */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rigKubeconfigPath } from "../../../tools/rig/rig";
import { type RigProxy, startRigProxy } from "../../../tools/rig-proxy/rig-proxy";

const group = `g${Date.now().toString(36)}.apisnoop.dev`;
const crd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `widgets.${group}` },
  spec: {
    group,
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      },
    ],
  },
};

let rig: RigProxy;

function kubectl(args: string[], input?: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn("kubectl", ["--kubeconfig", rigKubeconfigPath("admin"), ...args], {
      stdio: ["pipe", "ignore", "ignore"],
    });
    child.on("close", resolve);
    child.stdin.end(input);
  });
}

beforeAll(async () => {
  rig = await startRigProxy("admin");
});
afterAll(async () => {
  await kubectl(["delete", "crd", crd.metadata.name, "--ignore-not-found", "--wait=false"]);
  await rig?.close();
});

describe("live spec refresh", () => {
  it("matches a new CRD's operations after the CRD watch fires, without a restart", async () => {
    const path = `/apis/${group}/v1/namespaces/default/widgets`;
    expect(rig.proxy.spec.current()?.matcher.match("GET", path).operationId).toBeNull();
    expect(await kubectl(["create", "-f", "-"], JSON.stringify(crd))).toBe(0);
    let operationId: string | null | undefined = null;
    for (let i = 0; i < 300 && !operationId; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      operationId = rig.proxy.spec.current()?.matcher.match("GET", path).operationId;
    }
    expect(operationId).toMatch(/^list.*NamespacedWidget$/);
  });
});
