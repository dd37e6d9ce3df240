/**
 * The rig's certificates and keys, made with Debian's openssl CLI (node:crypto can make keys but not X.509
 * certificates). EC P-256 keys: generated in milliseconds, accepted by kube-apiserver, kubectl and client-node.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Paths of everything pki.ts writes under `<dir>`. */
export interface RigPki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  /** Service-account token signing key (private) and its verification key (public). */
  saKey: string;
  saPub: string;
  /** Client certificate CN=admin-cert, O=system:masters. */
  adminCert: string;
  adminKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A new EC P-256 private key at `path` (PKCS#8 PEM). */
function ecKey(path: string, cwd: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path], cwd);
}

/** Issues `name`.crt signed by the rig CA, with the given subject and v3 extensions. */
function issue(name: string, subject: string, extensions: string, cwd: string): void {
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
      "ca.crt",
      "-CAkey",
      "ca.key",
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
 * Generates a fresh CA, the kube-apiserver serving certificate (127.0.0.1, localhost and the in-cluster
 * `kubernetes.default.svc` names), the service-account signing key pair and the admin client certificate.
 */
export function generateRigPki(dir: string, serviceIp: string): RigPki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  ecKey("ca.key", dir);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-subj",
      "/CN=apisnoop-rig-ca",
      "-days",
      "365",
      "-sha256",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  const san = [
    "IP:127.0.0.1",
    `IP:${serviceIp}`,
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ].join(",");
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
  ecKey("sa.key", dir);
  openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  return {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    servingCert: join(dir, "apiserver.crt"),
    servingKey: join(dir, "apiserver.key"),
    saKey: join(dir, "sa.key"),
    saPub: join(dir, "sa.pub"),
    adminCert: join(dir, "admin.crt"),
    adminKey: join(dir, "admin.key"),
  };
}

/** Base64 of a PEM file, for kubeconfig `*-data` fields. */
export function pemData(path: string): string {
  return readFileSync(path).toString("base64");
}
