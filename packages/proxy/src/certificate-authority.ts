import { createPrivateKey, generateKeyPair, type KeyObject, randomBytes, sign } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { CA } from "http-mitm-proxy/dist/lib/ca.js";
import forge from "node-forge";
import {
  nameConstraintsExtension,
  type PermittedNames,
  permits,
  permittedNamesFor,
  readPermittedNames,
} from "./name-constraints";

const { pki, md, asn1 } = forge;
const generateRsaKeyPair = promisify(generateKeyPair);
const generateEcKeyPair = promisify(generateKeyPair);

/** The one key pair every leaf of a process shares: the public key as ASN.1, the private key as PEM. */
interface LeafKeys {
  spki: forge.asn1.Asn1;
  pem: string;
}

/** A leaf certificate and its private key, PEM. */
export interface LeafCertificate {
  cert: string;
  key: string;
  hosts: string[];
}

/** Names in-cluster clients use for the apiserver; every leaf for the upstream covers them. */
export const IN_CLUSTER_HOSTS = [
  "kubernetes",
  "kubernetes.default",
  "kubernetes.default.svc",
  "kubernetes.default.svc.cluster.local",
];

const CA_SUBJECT = [
  { name: "commonName", value: "apisnoop proxy CA" },
  { name: "organizationName", value: "apisnoop" },
];

/**
 * The proxy's certificate authority, built on http-mitm-proxy's `CA` (same on-disk layout:
 * `certs/ca.pem`, `keys/ca.private.key`, `keys/ca.public.key`) with its pitfalls fixed:
 * - serial numbers are always positive (its random ones are negative half the time; Go rejects them);
 * - the CA directory is 0700 and the keys 0600 (it writes them world-readable);
 * - keys come from Node's native, asynchronous generator and leaf certificates are issued ahead of time
 *   (it generates them synchronously in JavaScript on the request path, 100–500 ms each).
 * All leaves share one ECDSA P-256 key pair made per process: a leaf then costs one signature, not a key
 * generation, and a client's TLS handshake costs the proxy an ECDSA signature, several times cheaper than
 * an RSA-2048 one (what a flood of handshakes spends the proxy's one thread on).
 * Leaves are kept in memory only; just the CA is written to disk.
 */
export class CertificateAuthority extends CA {
  private leafKeys: LeafKeys | null = null;
  private readonly leaves = new Map<string, LeafCertificate>();

  /**
   * Loads the CA from `caDir`, or creates it there (once) when it does not exist or has expired.
   *
   * With `permit`, the CA is name-constrained (X.509 name constraints, critical): a CA created here may
   * sign only for those names and the ones every proxy serves (loopback, the in-cluster apiserver names,
   * this host), so its key, if it leaked, could not impersonate any other site to the clients that trust
   * it. A constrained CA that lacks a name is re-issued with the same key for the union (`extendedWith`
   * says which): kubeconfigs written before keep the earlier certificate. A CA without constraints (the
   * chart's, which Helm cannot constrain; one an operator brought; one made before) is used as it is.
   */
  static async open(caDir: string, options: { permit?: string[] } = {}): Promise<CertificateAuthority> {
    const ca = new CertificateAuthority();
    ca.baseCAFolder = caDir;
    ca.certsFolder = path.join(caDir, "certs");
    ca.keysFolder = path.join(caDir, "keys");
    await mkdir(ca.certsFolder, { recursive: true, mode: 0o700 });
    await mkdir(ca.keysFolder, { recursive: true, mode: 0o700 });
    // mkdir's mode does not apply to directories that already exist (or to a parent made by recursion).
    await Promise.all([chmod(caDir, 0o700), chmod(ca.keysFolder, 0o700), chmod(ca.certsFolder, 0o700)]);
    let loaded = false;
    try {
      const [certPem, keyPem] = await Promise.all([
        readFile(path.join(ca.certsFolder, "ca.pem"), "utf8"),
        readFile(path.join(ca.keysFolder, "ca.private.key"), "utf8"),
      ]);
      const cert = pki.certificateFromPem(certPem);
      if (cert.validity.notAfter.getTime() > Date.now() + 24 * 3600 * 1000) {
        const privateKey = pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
        ca.CAcert = cert;
        ca.CAkeys = { privateKey, publicKey: cert.publicKey as forge.pki.rsa.PublicKey };
        loaded = true;
        await chmod(path.join(ca.keysFolder, "ca.private.key"), 0o600);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const wanted = options.permit ? [...PERMITTED_ALWAYS, ...options.permit] : null;
    if (!loaded) await ca.createOnDisk(wanted ? permittedNamesFor(wanted) : null);
    const current = readPermittedNames(ca.CAcert);
    if (wanted && current && !permits(current, wanted)) {
      const missing = wanted.filter((name) => !permits(current, [name]));
      await ca.reissue(permittedNamesFor([...current.dns, ...current.ips, ...missing]));
      ca.extendedWith = [...new Set(missing)];
    }
    return ca;
  }

  /** Names this CA was extended with when it was opened (see `open`), for a log line. */
  extendedWith: string[] = [];

  /** The names the CA may sign for, or null when it carries no name constraints. */
  get permittedNames(): PermittedNames | null {
    return readPermittedNames(this.CAcert);
  }

  /** A positive serial: 16 random bytes with the sign bit of the first byte clear (RFC 5280 §4.1.2.2). */
  override randomSerialNumber(): string {
    const bytes = randomBytes(16);
    bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
    return bytes.toString("hex");
  }

  /** The CA certificate, PEM: what clients must trust (a kubeconfig's `certificate-authority-data`). */
  get certificatePem(): string {
    return pki.certificateToPem(this.CAcert);
  }

  /** Issues leaves for these host sets ahead of time so no TLS handshake waits for one. */
  async prepareLeaves(hostSets: string[][]): Promise<void> {
    for (const hosts of hostSets) await this.leafFor(hosts);
  }

  /**
   * The leaf certificate for `hosts` (first one is the common name), issued once and cached.
   * Costs one RSA signature; the key generation is shared and asynchronous.
   */
  async leafFor(hosts: string[]): Promise<LeafCertificate> {
    const cacheKey = hosts.join(",");
    const cached = this.leaves.get(cacheKey);
    if (cached) return cached;
    const keys = await this.sharedLeafKeys();
    const existing = this.leaves.get(cacheKey); // another caller may have issued it while we waited
    if (existing) return existing;
    const leaf = { cert: this.signLeaf(hosts, keys.spki), key: keys.pem, hosts };
    this.leaves.set(cacheKey, leaf);
    return leaf;
  }

  /** The cached leaf for exactly `host`, if one was issued that covers it. */
  cachedLeafCovering(host: string): LeafCertificate | null {
    for (const leaf of this.leaves.values()) if (leaf.hosts.includes(host)) return leaf;
    return null;
  }

  private async createOnDisk(names: PermittedNames | null): Promise<void> {
    const { privateKey, publicKey } = await nativeRsaKeyPair();
    const cert = caCertificate(
      publicKey,
      privateKey,
      this.randomSerialNumber(),
      new Date(Date.now() + 5 * 365 * 24 * 3600 * 1000),
      names,
    );
    this.CAcert = cert;
    this.CAkeys = { privateKey, publicKey };
    const keyFile = path.join(this.keysFolder, "ca.private.key");
    // The key is written 0600 from the first byte (mode applies at creation; chmod covers an old file).
    await writeFile(keyFile, pki.privateKeyToPem(privateKey), { mode: 0o600 });
    await chmod(keyFile, 0o600);
    await writeFile(path.join(this.keysFolder, "ca.public.key"), pki.publicKeyToPem(publicKey), {
      mode: 0o600,
    });
    await writeFile(path.join(this.certsFolder, "ca.pem"), pki.certificateToPem(cert), { mode: 0o644 });
  }

  /** The same CA (key, subject, expiry) with other name constraints, written whole over certs/ca.pem. */
  private async reissue(names: PermittedNames): Promise<void> {
    const { privateKey, publicKey } = this.CAkeys;
    const cert = caCertificate(
      publicKey,
      privateKey,
      this.randomSerialNumber(),
      this.CAcert.validity.notAfter,
      names,
    );
    const file = path.join(this.certsFolder, "ca.pem");
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, pki.certificateToPem(cert), { mode: 0o644 });
    await rename(temporary, file);
    this.CAcert = cert;
  }

  private leafKeysPromise: Promise<LeafKeys> | null = null;

  private sharedLeafKeys(): Promise<LeafKeys> {
    if (this.leafKeys) return Promise.resolve(this.leafKeys);
    this.leafKeysPromise ??= generateEcKeyPair("ec", {
      namedCurve: "prime256v1",
      publicKeyEncoding: { type: "spki", format: "der" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    }).then(({ publicKey, privateKey }) => {
      this.leafKeys = {
        spki: asn1.fromDer(forge.util.createBuffer(publicKey.toString("binary"))),
        pem: privateKey,
      };
      return this.leafKeys;
    });
    return this.leafKeysPromise;
  }

  /**
   * The CA's private key for OpenSSL: node-forge's RSA is JavaScript bignum arithmetic, the largest part of
   * the proxy's CPU from launch to ready (hundreds of ms on a loaded machine); OpenSSL's is about 1 ms.
   */
  private signingKey(): KeyObject {
    const forgeKey = this.CAkeys.privateKey;
    if (this.nativeKey?.forgeKey !== forgeKey)
      this.nativeKey = { forgeKey, key: createPrivateKey(pki.privateKeyToPem(forgeKey)) };
    return this.nativeKey.key;
  }

  private nativeKey: { forgeKey: forge.pki.rsa.PrivateKey; key: KeyObject } | null = null;

  /**
   * A leaf for `hosts` around an EC public key, PEM. node-forge writes RSA keys only, so the certificate is
   * built with a stand-in key, its SubjectPublicKeyInfo swapped for the EC one, and signed by the CA here.
   */
  private signLeaf(hosts: string[], spki: forge.asn1.Asn1): string {
    const cert = pki.createCertificate();
    cert.publicKey = this.CAkeys.publicKey; // stand-in, replaced below
    cert.serialNumber = this.randomSerialNumber();
    cert.validity.notBefore = new Date(Date.now() - 24 * 3600 * 1000);
    cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600 * 1000);
    // Not a host name: verifiers read the SANs, and OpenSSL would check a host-like CN against the CA's
    // name constraints as if it were one.
    cert.setSubject([
      { name: "commonName", value: "apisnoop proxy" },
      { name: "organizationName", value: "apisnoop" },
    ]);
    cert.setIssuer(this.CAcert.subject.attributes);
    cert.setExtensions([
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, critical: true },
      { name: "extKeyUsage", serverAuth: true, clientAuth: true },
      {
        name: "subjectAltName",
        altNames: hosts.map((host) => (isIP(host) ? { type: 7, ip: host } : { type: 2, value: host })),
      },
    ]);
    cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption as string;
    const tbs = (
      pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }
    ).getTBSCertificate(cert);
    // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
    (tbs.value as forge.asn1.Asn1[])[6] = spki;
    const tbsDer = asn1.toDer(tbs).getBytes();
    const signature = sign("sha256", Buffer.from(tbsDer, "binary"), this.signingKey()).toString("binary");
    const certificate = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      tbs,
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(
          asn1.Class.UNIVERSAL,
          asn1.Type.OID,
          false,
          asn1.oidToDer(pki.oids.sha256WithRSAEncryption as string).getBytes(),
        ),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ""),
      ]),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\0${signature}`),
    ]);
    return forge.pem.encode({ type: "CERTIFICATE", body: asn1.toDer(certificate).getBytes() });
  }
}

/** Names every CA made with `permit` may sign for: loopback, the in-cluster apiserver names, this host. */
const PERMITTED_ALWAYS = ["127.0.0.1", "::1", "localhost", ...IN_CLUSTER_HOSTS, hostname().toLowerCase()];

function caCertificate(
  publicKey: forge.pki.rsa.PublicKey,
  privateKey: forge.pki.rsa.PrivateKey,
  serialNumber: string,
  notAfter: Date,
  names: PermittedNames | null,
): forge.pki.Certificate {
  const cert = pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber;
  cert.validity.notBefore = new Date(Date.now() - 24 * 3600 * 1000);
  cert.validity.notAfter = notAfter;
  cert.setSubject(CA_SUBJECT);
  cert.setIssuer(CA_SUBJECT);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
    ...(names ? [nameConstraintsExtension(names)] : []),
  ]);
  cert.sign(privateKey, md.sha256.create());
  return cert;
}

/** An RSA-2048 key pair from Node's native generator (libuv thread pool: the event loop stays free). */
async function nativeRsaKeyPair(): Promise<{
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
}> {
  const { privateKey, publicKey } = await generateRsaKeyPair("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return {
    privateKey: pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
    publicKey: pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
  };
}
