/**
 * The rig's node runs real pods: kubelet registered Ready at the node's address, CoreDNS serving the
 * cluster domain, a pod with an address from the pod network that resolves Service names and reaches the
 * apiserver through the `kubernetes` Service with its in-cluster configuration — the apiserver's audit log
 * sees those calls come from the pod's own address —, and kubectl logs and exec through kubelet.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolboxImage } from "../../images/rig-images";
import { loadRigImages } from "../../images/rig-load";
import { readAuditEvents } from "../audit";
import { rigApply, rigKubectl } from "../kubectl";
import { readRigState } from "../rig";
import { uniqueNamespace, until } from "../test-objects";
import { CLUSTER_DNS_IP, NODE_NAME, POD_CIDR } from "./config";

const namespace = uniqueNamespace("node");
let toolbox = "";

/** `10.244.0.7` is in `10.244.0.0/24`. */
function inCidr(ip: string, cidr: string): boolean {
  const [base = "", bits = "32"] = cidr.split("/");
  const toNumber = (address: string) => address.split(".").reduce((n, part) => n * 256 + Number(part), 0);
  const mask = 2 ** 32 - 2 ** (32 - Number(bits));
  return (toNumber(ip) & mask) >>> 0 === (toNumber(base) & mask) >>> 0;
}

interface PodStatus {
  status: { phase?: string; podIP?: string; hostIP?: string };
}

async function podStatus(name: string): Promise<PodStatus["status"]> {
  return (JSON.parse(await rigKubectl(["-n", namespace, "get", "pod", name, "-o", "json"])) as PodStatus)
    .status;
}

beforeAll(async () => {
  [toolbox = ""] = loadRigImages([toolboxImage()], (line) => console.log(line));
  await rigApply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  await until("the default ServiceAccount", () =>
    rigKubectl(["-n", namespace, "get", "serviceaccount", "default"]).catch(() => null),
  );
  // The client's calls need rights in its namespace: the built-in `edit` role.
  await rigKubectl([
    "-n",
    namespace,
    "create",
    "rolebinding",
    "edit",
    "--clusterrole=edit",
    `--serviceaccount=${namespace}:default`,
  ]);
  await rigApply({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "client", namespace },
    spec: {
      restartPolicy: "Never",
      containers: [
        {
          name: "client",
          image: toolbox,
          imagePullPolicy: "Never",
          command: [
            "sh",
            "-c",
            "nslookup kubernetes.default.svc.cluster.local && node /toolbox/in-cluster-client.mjs --rounds=1 && sleep 3600",
          ],
        },
      ],
    },
  });
});

afterAll(async () => {
  await rigKubectl(["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]).catch(
    () => undefined,
  );
});

describe("the rig's node", () => {
  it("is Ready at the node's address with CoreDNS serving kube-dns", async () => {
    const state = readRigState();
    expect(state.node?.name).toBe(NODE_NAME);
    const node = JSON.parse(await rigKubectl(["get", "node", NODE_NAME, "-o", "json"])) as {
      status: {
        conditions: Array<{ type: string; status: string }>;
        addresses: Array<{ type: string; address: string }>;
      };
    };
    expect(node.status.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(node.status.addresses).toContainEqual({
      type: "InternalIP",
      address: state.node?.network.nodeAddress,
    });
    const dns = JSON.parse(
      await rigKubectl(["-n", "kube-system", "get", "service", "kube-dns", "-o", "json"]),
    ) as {
      spec: { clusterIP: string };
    };
    expect(dns.spec.clusterIP).toBe(CLUSTER_DNS_IP);
    const endpoints = await rigKubectl([
      "-n",
      "kube-system",
      "get",
      "endpointslices",
      "-l",
      "kubernetes.io/service-name=kube-dns",
      "-o",
      "jsonpath={.items[*].endpoints[*].addresses[*]}",
    ]);
    for (const address of endpoints.trim().split(/\s+/))
      expect(inCidr(address, POD_CIDR), address).toBe(true);
  });

  it("runs the control plane as processes: kube-system has no pod of theirs", async () => {
    // The e2e difference class control-plane-not-in-pods rests on this: e2e's metrics grabber only talks
    // to a kube-controller-manager-* pod in kube-system, which a cluster with static control-plane pods has.
    const pods = (await rigKubectl(["-n", "kube-system", "get", "pods", "-o", "name"])).trim().split(/\s+/);
    expect(pods.some((pod) => pod.startsWith("pod/coredns"))).toBe(true);
    expect(
      pods.filter((pod) => /^pod\/(kube-apiserver|kube-controller-manager|kube-scheduler|etcd)-/.test(pod)),
    ).toEqual([]);
  });

  it("runs a pod with an address from the pod network that resolves Service names and calls the apiserver in-cluster", async () => {
    const status = await until(
      "the client pod running",
      async () => {
        const current = await podStatus("client");
        return current.phase === "Running" ? current : null;
      },
      120_000,
    );
    expect(inCidr(status.podIP ?? "", POD_CIDR), status.podIP).toBe(true);
    expect(status.hostIP).toBe(readRigState().node?.network.nodeAddress);

    const log = await until(
      "the client's eight calls",
      async () => {
        const text = await rigKubectl(["-n", namespace, "logs", "client"]);
        return text.includes("in-cluster-client: done") ? text : null;
      },
      120_000,
    );
    // nslookup through CoreDNS: the `kubernetes` Service's ClusterIP.
    expect(log).toMatch(/Name:\s+kubernetes\.default\.svc\.cluster\.local\s+Address: 10\.0\.0\.1/);
    const calls = log.split("\n").filter((line) => line.startsWith("round 1 "));
    expect(calls).toHaveLength(8);
    for (const call of calls) expect(call).toMatch(/ 200$/);

    // The apiserver saw the calls from the pod's own address (no address translation in between).
    const account = `system:serviceaccount:${namespace}:default`;
    const events = await until("the client's calls in the audit log", () => {
      const found = readAuditEvents().filter((event) => event.user.username === account);
      return found.length >= 8 ? found : null;
    });
    for (const event of events) expect(event.sourceIPs).toEqual([status.podIP]);
  });

  it("reaches the pod through kubelet for logs and exec", async () => {
    const hostname = await rigKubectl(["-n", namespace, "exec", "client", "--", "cat", "/etc/hostname"]);
    expect(hostname.trim()).toBe("client");
    const address = await rigKubectl([
      "-n",
      namespace,
      "exec",
      "client",
      "--",
      "sh",
      "-c",
      "ip -4 -o addr show eth0",
    ]);
    expect(address).toContain(`${(await podStatus("client")).podIP}/`);
  });
});
