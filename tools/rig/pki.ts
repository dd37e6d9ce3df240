/**
 * The rig's certificates and keys, made with Debian's openssl CLI (node:crypto can make keys but not X.509
 * certificates). EC P-256 keys: generated in milliseconds, accepted by kube-apiserver, kubectl and client-node.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RigPki } from "./layout";

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A new EC P-256 private key at `path` (PKCS#8 PEM). */
function ecKey(path: string, cwd: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path], cwd);
}

/** A new self-signed CA `name`.crt with its key `name`.key. */
function selfSignedCa(name: string, subject: string, cwd: string): void {
  ecKey(`${name}.key`, cwd);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      `${name}.key`,
      "-subj",
      subject,
      "-days",
      "365",
      "-sha256",
      "-out",
      `${name}.crt`,
    ],
    cwd,
  );
}

/** Issues `name`.crt signed by the CA `ca` (default: the rig CA), with the given subject and v3 extensions. */
function issue(name: string, subject: string, extensions: string, cwd: string, ca = "ca"): void {
  ecKey(`${name}.key`, cwd);
  writeFileSync(join(cwd, `${name}.ext`), extensions);
  openssl(["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], cwd);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-days",
      "365",
      "-sha256",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ],
    cwd,
  );
}

/**
 * The subjectAltName of kube-apiserver's serving certificate: the addresses it is reached at (127.0.0.1,
 * `extraIps`), the `kubernetes` Service's ClusterIP and every in-cluster name of that Service.
 */
export function apiserverSubjectAltName(serviceIp: string, extraIps: readonly string[] = []): string {
  return [
    "IP:127.0.0.1",
    ...extraIps.map((ip) => `IP:${ip}`),
    `IP:${serviceIp}`,
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ].join(",");
}

/**
 * Generates into `pki.dir` a fresh CA, the kube-apiserver serving certificate (see
 * {@link apiserverSubjectAltName}), the service-account signing key pair, the admin client certificate,
 * kube-apiserver's client certificate for kubelet, and its front-proxy client certificate with that CA.
 */
export function generateRigPki(pki: RigPki, serviceIp: string, extraIps: readonly string[] = []): RigPki {
  const { dir } = pki;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  selfSignedCa("ca", "/CN=apisnoop-rig-ca", dir);
  const san = apiserverSubjectAltName(serviceIp, extraIps);
  issue(
    "apiserver",
    "/CN=kube-apiserver",
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    dir,
  );
  issue(
    "admin",
    "/O=system:masters/CN=admin-cert",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    dir,
  );
  // kube-apiserver's identity towards kubelet (logs, exec, port-forward); kubelet authorizes it by SAR.
  issue(
    "apiserver-kubelet-client",
    "/O=system:masters/CN=kube-apiserver-kubelet-client",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    dir,
  );
  // kube-apiserver's identity towards aggregated API servers (the sample API server of the Aggregator
  // conformance test), from a CA of its own as kubeadm does, so no other rig certificate can assert users.
  selfSignedCa("front-proxy-ca", "/CN=apisnoop-rig-front-proxy-ca", dir);
  issue(
    "front-proxy-client",
    "/CN=front-proxy-client",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    dir,
    "front-proxy-ca",
  );
  ecKey("sa.key", dir);
  openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  return pki;
}

/** Base64 of a PEM file, for kubeconfig `*-data` fields. */
export function pemData(path: string): string {
  return readFileSync(path).toString("base64");
}
