import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRigState, rigToken } from "../../../tools/rig/rig";
import { type RigProxy, startRigProxy } from "../../../tools/rig-proxy/rig-proxy";
import { caBundle } from "./ca-bundle";
import { type InjectionSettings, injectedEnv } from "./pod-injection";

/**
 * A client configured the way an injected pod's in-cluster client-go is: server from the injected
 * KUBERNETES_SERVICE_HOST/PORT, trust from the bundle mounted as ca.crt, its service-account token. The
 * Service name cannot resolve here, so the kubeconfig dials 127.0.0.1 and sends the Service name as TLS
 * server name — exactly the name in-cluster client-go verifies the proxy's certificate against. The proxy
 * is told that name with `tlsNames`, as the chart tells it with `--tls-name`.
 */
describe("a client with the injected settings reaches the rig through the proxy", () => {
  let rigProxy: RigProxy;
  let kubeconfig: string;

  beforeAll(async () => {
    rigProxy = await startRigProxy("admin", "live", { tlsNames: ["apisnoop-proxy.apisnoop.svc"] });
    const settings: InjectionSettings = {
      proxyHost: "apisnoop-proxy.apisnoop.svc",
      proxyPort: Number(new URL(rigProxy.proxy.url).port),
      caBundleConfigMap: "apisnoop-ca-bundle",
    };
    const env = Object.fromEntries(injectedEnv({}, settings).map((entry) => [entry.name, entry.value]));
    const bundleFile = join(rigProxy.dir, "ca-bundle.crt");
    writeFileSync(
      bundleFile,
      caBundle(readFileSync(readRigState().caFile, "utf8"), rigProxy.proxy.ca.certificatePem),
    );
    kubeconfig = join(rigProxy.dir, "in-cluster.kubeconfig");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          {
            name: "in-cluster",
            cluster: {
              server: `https://127.0.0.1:${env.KUBERNETES_SERVICE_PORT}`,
              "tls-server-name": env.KUBERNETES_SERVICE_HOST,
              "certificate-authority": bundleFile,
            },
          },
        ],
        users: [{ name: "sa", user: { token: rigToken("workload") } }],
        contexts: [{ name: "in-cluster", context: { cluster: "in-cluster", user: "sa" } }],
        "current-context": "in-cluster",
      }),
      { mode: 0o600 },
    );
  });

  afterAll(async () => {
    await rigProxy?.close();
  });

  it("verifies the proxy's certificate for the Service name and is counted", async () => {
    const { stdout } = await promisify(execFile)("kubectl", [
      "--kubeconfig",
      kubeconfig,
      "get",
      "--raw",
      "/api/v1/namespaces/default",
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ kind: "Namespace", metadata: { name: "default" } });
    // The hits file is appended when the flow finishes, a little after the response: poll for our call.
    let ours: Awaited<ReturnType<RigProxy["hits"]>> = [];
    for (let attempt = 0; attempt < 50 && ours.length === 0; attempt++) {
      ours = (await rigProxy.hits(1)).filter((hit) => hit.path === "/api/v1/namespaces/default");
      if (ours.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(ours.map((hit) => hit.operationId)).toEqual(["readCoreV1Namespace"]);
  });
});
