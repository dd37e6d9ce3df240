/**
 * charts/apisnoop installed on the rig's node as a user installs it, with the rig's images: the proxy and
 * web images built from their Dockerfiles, PostgreSQL from Debian's packages, all imported into the node
 * and named through the chart's values (`imagePullPolicy: Never`), PostgreSQL's claim bound to a hostPath
 * volume, the reference releases mounted from `../shared/k8s` (the cluster cannot download them).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SHARED_K8S } from "@apisnoop/openapi/testing";
import { postgresImage, proxyImage, redirectImage, webImage } from "../images/rig-images";
import { loadRigImages } from "../images/rig-load";
import { chartDir, helmPath } from "./helm";
import { rigKubectl } from "./kubectl";
import { createHostPathVolume, RIG_STORAGE_CLASS } from "./node/volumes";
import { readRigState, rigKubeconfigPath } from "./rig";

/** Where the web pod reads the published releases from (mounted from the host). */
const REFERENCE_MOUNT = "/reference";

export interface ApisnoopRelease {
  /** Helm release name; the chart's objects are `<release>-proxy`, `<release>-web`, … */
  release: string;
  namespace: string;
  /** Basic-auth user and password of the dashboard. */
  dashboard: { username: string; password: string };
  /** The proxy Service's in-cluster name (what the webhook points opted-in pods at). */
  proxyHost: string;
  /** `http://<release>-web.<namespace>.svc:3000`, the dashboard from inside the cluster. */
  webUrl: string;
  uninstall(): Promise<void>;
}

/** The chart values that point it at the rig's images and storage. */
export function rigChartValues(
  images: { proxy: string; web: string; postgres: string; redirect: string },
  password: string,
) {
  const split = (name: string) => {
    const at = name.lastIndexOf(":");
    return { repository: name.slice(0, at), tag: name.slice(at + 1) };
  };
  return {
    image: { ...split(images.proxy), pullPolicy: "Never" },
    web: {
      image: split(images.web),
      // The rig's own release, read from the reference data instead of downloaded.
      releases: readRigState().kubeVersion.replace(/^v(\d+\.\d+)\..*$/, "$1"),
      auth: { mode: "basic", password },
      extraEnv: [{ name: "APISNOOP_REFERENCE_DIR", value: REFERENCE_MOUNT }],
      extraVolumes: [{ name: "reference", hostPath: { path: SHARED_K8S, type: "Directory" } }],
      extraVolumeMounts: [{ name: "reference", mountPath: REFERENCE_MOUNT, readOnly: true }],
    },
    webhook: { redirect: { enabled: true, image: split(images.redirect) } },
    postgresql: {
      image: images.postgres,
      persistence: { storageClass: RIG_STORAGE_CLASS, size: "1Gi" },
    },
  };
}

function helm(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(helmPath(), args, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`helm ${args[0]} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

/** What is wrong with the release's pods, for an install that did not become ready. */
async function podReport(namespace: string): Promise<string> {
  const pods = await rigKubectl(["-n", namespace, "get", "pods", "-o", "wide"]).catch(
    (e: Error) => e.message,
  );
  const events = await rigKubectl(["-n", namespace, "get", "events", "--sort-by=.lastTimestamp"]).catch(
    (e: Error) => e.message,
  );
  return `${pods}\n${events.split("\n").slice(-25).join("\n")}`;
}

/**
 * Builds and imports the images, makes PostgreSQL's volume and runs `helm install --wait`.
 * @throws Error with the pods and recent events when the release does not become ready in 10 minutes.
 */
export async function installApisnoop(
  release: string,
  namespace: string,
  log: (line: string) => void = () => {},
): Promise<ApisnoopRelease> {
  const [proxy = "", web = "", postgres = "", redirect = ""] = loadRigImages(
    [await proxyImage(log), await webImage(log), postgresImage(), await redirectImage(log)],
    log,
  );
  const password = randomBytes(18).toString("base64url");
  const fullname = release.includes("apisnoop") ? release : `${release}-apisnoop`;
  // The StatefulSet's claim: the volume is made for it.
  await createHostPathVolume({
    name: `${release}-postgresql`,
    size: "1Gi",
    uid: 70,
    claim: { namespace, name: `data-${fullname}-postgresql-0` },
  });
  const dir = mkdtempSync(join(tmpdir(), "apisnoop-release-"));
  const valuesFile = join(dir, "values.json");
  writeFileSync(valuesFile, JSON.stringify(rigChartValues({ proxy, web, postgres, redirect }, password)), {
    mode: 0o600,
  });
  const kubeconfig = ["--kubeconfig", rigKubeconfigPath("admin")];
  const started = Date.now();
  try {
    await helm([
      "install",
      release,
      chartDir,
      "--namespace",
      namespace,
      "--create-namespace",
      "-f",
      valuesFile,
      "--wait",
      "--timeout",
      "10m",
      ...kubeconfig,
    ]);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await podReport(namespace)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  log(`helm install ${release}: ready in ${((Date.now() - started) / 1000).toFixed(0)}s`);
  return {
    release,
    namespace,
    dashboard: { username: "apisnoop", password },
    proxyHost: `${fullname}-proxy.${namespace}.svc`,
    webUrl: `http://${fullname}-web.${namespace}.svc:3000`,
    async uninstall() {
      await helm(["uninstall", release, "--namespace", namespace, "--wait", ...kubeconfig]).catch(
        () => undefined,
      );
      await rigKubectl(["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]).catch(
        () => undefined,
      );
      await rigKubectl(["delete", "pv", `${release}-postgresql`, "--ignore-not-found"]).catch(
        () => undefined,
      );
    },
  };
}
