import { X509Certificate } from "node:crypto";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CertificateAuthority } from "./certificate-authority";

const mode = (file: string) => statSync(file).mode & 0o777;

describe("CertificateAuthority", () => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "apisnoop-ca-")), "ca");

  it("creates the CA once, its directory 0700 and its key 0600, and loads the same CA next time", async () => {
    const ca = await CertificateAuthority.open(dir);
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.join(dir, "keys"))).toBe(0o700);
    expect(mode(path.join(dir, "keys", "ca.private.key"))).toBe(0o600);
    const again = await CertificateAuthority.open(dir);
    expect(again.certificatePem).toBe(ca.certificatePem);
    const cert = new X509Certificate(ca.certificatePem);
    expect(cert.ca).toBe(true);
  });

  it("always draws positive serial numbers (Go rejects negative ones)", async () => {
    const ca = await CertificateAuthority.open(dir);
    for (let i = 0; i < 2000; i++) {
      const serial = ca.randomSerialNumber();
      expect(Number.parseInt(serial.slice(0, 2), 16)).toBeGreaterThan(0);
      expect(Number.parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);
    }
  });

  it("issues leaves signed by the CA for IPs and names, cached per host set, with a positive serial", async () => {
    const ca = await CertificateAuthority.open(dir);
    const leaf = await ca.leafFor(["127.0.0.1", "localhost", "kubernetes.default.svc"]);
    const cert = new X509Certificate(leaf.cert);
    expect(cert.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.checkHost("kubernetes.default.svc")).toBe("kubernetes.default.svc");
    expect(cert.serialNumber).toMatch(/^[0-7]/);
    expect(await ca.leafFor(["127.0.0.1", "localhost", "kubernetes.default.svc"])).toBe(leaf);
    expect(ca.cachedLeafCovering("localhost")).toBe(leaf);
  });
});
