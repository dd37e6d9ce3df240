import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { CertificateAuthority } from "./certificate-authority";
import { fakeApiserverKubeconfig } from "./testing";

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

describe("CertificateAuthority with name constraints", () => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "apisnoop-ca-nc-")), "ca");

  it("is created constrained to the names it must sign, and extended with the same key when one is missing", async () => {
    const ca = await CertificateAuthority.open(dir, { permit: ["10.0.0.1", "api.example"] });
    expect(ca.permittedNames?.dns).toEqual(
      expect.arrayContaining(["api.example", "kubernetes.default.svc", "localhost"]),
    );
    expect(ca.permittedNames?.ips).toEqual(expect.arrayContaining(["10.0.0.1", "127.0.0.1", "::1"]));
    expect(ca.extendedWith).toEqual([]);
    const same = await CertificateAuthority.open(dir, { permit: ["api.example"] });
    expect(same.certificatePem).toBe(ca.certificatePem);
    const extended = await CertificateAuthority.open(dir, { permit: ["other.example"] });
    expect(extended.extendedWith).toEqual(["other.example"]);
    expect(extended.permittedNames?.dns).toEqual(expect.arrayContaining(["api.example", "other.example"]));
    expect(
      new X509Certificate(extended.certificatePem).publicKey.export({ format: "pem", type: "spki" }),
    ).toBe(new X509Certificate(ca.certificatePem).publicKey.export({ format: "pem", type: "spki" }));
  });

  it("kubectl (Go's verifier) accepts its leaves and refuses a leaf its key signed for any other name", async () => {
    const ca = await CertificateAuthority.open(dir, { permit: ["127.0.0.1"] });
    // The key signs whatever it is asked to, as a leaked key would: the CA certificate's constraints stop it.
    const inside = await ca.leafFor(["127.0.0.1", "localhost", "kubernetes.default.svc"]);
    const outside = await ca.leafFor(["127.0.0.1", "evil.example"]);
    const kubectlGets = async (leaf: { cert: string; key: string }) => {
      const server = https.createServer({ cert: leaf.cert, key: leaf.key }, (_req, res) => res.end("ok"));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const kubeconfig = path.join(dir, "..", "kubeconfig");
      writeFileSync(
        kubeconfig,
        fakeApiserverKubeconfig(
          `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
          ca.certificatePem,
          { token: "t" },
        ),
      );
      try {
        const { stdout } = await promisify(execFile)("kubectl", [
          "--kubeconfig",
          kubeconfig,
          "get",
          "--raw",
          "/healthz",
        ]);
        return stdout;
      } catch (error) {
        return (error as { stderr: string }).stderr;
      } finally {
        server.close();
      }
    };
    expect(await kubectlGets(inside)).toBe("ok");
    expect(await kubectlGets(outside)).toMatch(/x509: .*(not authorized to sign|not permitted|constraint)/i);
  });
});
