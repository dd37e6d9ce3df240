import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import forge from "node-forge";
import { describe, expect, it } from "vitest";
import { nameConstraintsExtension, permits, permittedNamesFor, readPermittedNames } from "./name-constraints";

const { pki, md } = forge;
const keys = pki.rsa.generateKeyPair(1024);
const subject = [{ name: "commonName", value: "test CA" }];

function certificate(extensions: object[], issuerIsSelf: boolean): forge.pki.Certificate {
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = "01";
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 3600_000);
  cert.setSubject(issuerIsSelf ? subject : [{ name: "commonName", value: "apisnoop proxy" }]);
  cert.setIssuer(subject);
  cert.setExtensions(extensions);
  cert.sign(keys.privateKey, md.sha256.create());
  return cert;
}

const names = permittedNamesFor(["127.0.0.1", "::1", "localhost", "Kubernetes.Default.SVC.", "10.96.0.1"]);
const ca = certificate(
  [
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, critical: true },
    nameConstraintsExtension(names),
  ],
  true,
);

describe("name constraints", () => {
  it("round-trips through PEM", () => {
    expect(readPermittedNames(pki.certificateFromPem(pki.certificateToPem(ca)))).toEqual({
      dns: ["kubernetes.default.svc", "localhost"],
      ips: ["10.96.0.1", "127.0.0.1", "::1"],
    });
    expect(readPermittedNames(certificate([], true))).toBeNull();
  });

  it("permits a name, its subdomains and the listed addresses only", () => {
    expect(permits(names, ["localhost", "a.localhost", "kubernetes.default.svc", "::1", "127.0.0.1"])).toBe(
      true,
    );
    expect(permits(names, ["kubernetes.default.svc.cluster.local"])).toBe(false);
    expect(permits(names, ["127.0.0.2"])).toBe(false);
    expect(permits(names, ["example.com"])).toBe(false);
  });

  it("is enforced by OpenSSL's verifier: leaves inside pass, leaves outside fail", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-nc-"));
    writeFileSync(path.join(dir, "ca.pem"), pki.certificateToPem(ca));
    const verify = (altNames: object[]) => {
      const leaf = certificate([{ name: "subjectAltName", altNames }], false);
      writeFileSync(path.join(dir, "leaf.pem"), pki.certificateToPem(leaf));
      const run = spawnSync(
        "openssl",
        ["verify", "-CAfile", path.join(dir, "ca.pem"), path.join(dir, "leaf.pem")],
        {
          encoding: "utf8",
        },
      );
      return `${run.stdout}${run.stderr}`;
    };
    expect(
      verify([
        { type: 7, ip: "127.0.0.1" },
        { type: 2, value: "localhost" },
      ]),
    ).toMatch(/: OK/);
    expect(
      verify([
        { type: 2, value: "kubernetes.default.svc" },
        { type: 7, ip: "::1" },
      ]),
    ).toMatch(/: OK/);
    expect(verify([{ type: 7, ip: "127.0.0.2" }])).toMatch(/permitted subtree violation/);
    expect(verify([{ type: 2, value: "example.com" }])).toMatch(/permitted subtree violation/);
    expect(
      verify([
        { type: 2, value: "localhost" },
        { type: 7, ip: "169.254.169.254" },
      ]),
    ).toMatch(/permitted subtree violation/);
  });
});
