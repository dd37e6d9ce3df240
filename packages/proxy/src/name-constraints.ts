import { isIP, isIPv4 } from "node:net";
import forge from "node-forge";

const { asn1 } = forge;
const NAME_CONSTRAINTS_OID = "2.5.29.30";

/** The names a CA may sign for: DNS names (each with its subdomains, RFC 5280) and single IP addresses. */
export interface PermittedNames {
  dns: string[];
  ips: string[];
}

/** Splits host names and IP addresses into the two kinds of permitted subtrees, deduplicated and sorted. */
export function permittedNamesFor(hosts: Iterable<string>): PermittedNames {
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const host of hosts) {
    if (isIP(host)) ips.add(host);
    else if (host) dns.add(host.toLowerCase().replace(/\.$/, ""));
  }
  return { dns: [...dns].sort(), ips: [...ips].sort() };
}

/**
 * The X.509 name-constraints extension (critical) limiting a CA to `names`: a leaf for any other DNS
 * name or IP address fails verification in Go's crypto/x509 and in OpenSSL, whoever holds the key.
 * An IP subtree is always present (0.0.0.0/32 at least), so that IP addresses are constrained too: with
 * DNS subtrees alone an IP SAN would be unconstrained.
 */
export function nameConstraintsExtension(names: PermittedNames): {
  id: string;
  critical: boolean;
  value: forge.asn1.Asn1;
} {
  const subtree = (generalName: forge.asn1.Asn1) =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [generalName]);
  const dns = names.dns.map((name) => subtree(asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, name)));
  const ips = (names.ips.length > 0 ? names.ips : ["0.0.0.0"]).map((ip) =>
    subtree(asn1.create(asn1.Class.CONTEXT_SPECIFIC, 7, false, ipWithFullMask(ip))),
  );
  const permitted = asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [...dns, ...ips]);
  return {
    id: NAME_CONSTRAINTS_OID,
    critical: true,
    value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [permitted]),
  };
}

/**
 * The permitted names of a certificate's name constraints, or null when it has none (a CA made before
 * constraints, the chart's, or one the operator brought: such a CA is used as it is).
 */
export function readPermittedNames(cert: forge.pki.Certificate): PermittedNames | null {
  const extension = cert.extensions.find((e: { id?: string }) => e.id === NAME_CONSTRAINTS_OID) as
    | { value: string | forge.asn1.Asn1 }
    | undefined;
  if (!extension) return null;
  // DER when read from PEM, the ASN.1 object itself on a certificate made in this process.
  const root = typeof extension.value === "string" ? asn1.fromDer(extension.value) : extension.value;
  const dns: string[] = [];
  const ips: string[] = [];
  for (const part of root.value as forge.asn1.Asn1[]) {
    if (part.type !== 0) continue; // permittedSubtrees only
    for (const generalSubtree of part.value as forge.asn1.Asn1[]) {
      const name = (generalSubtree.value as forge.asn1.Asn1[])[0];
      if (!name) continue;
      if (name.type === 2) dns.push(name.value as string);
      else if (name.type === 7) {
        const ip = ipFromMasked(name.value as string);
        if (ip && ip !== "0.0.0.0") ips.push(ip);
      }
    }
  }
  return permittedNamesFor([...dns, ...ips]);
}

/** Whether every host is within `names`: a DNS name equal to or below a permitted one, an IP listed. */
export function permits(names: PermittedNames, hosts: Iterable<string>): boolean {
  for (const host of hosts) {
    if (isIP(host)) {
      if (!names.ips.includes(host)) return false;
      continue;
    }
    const name = host.toLowerCase().replace(/\.$/, "");
    if (!names.dns.some((permitted) => name === permitted || name.endsWith(`.${permitted}`))) return false;
  }
  return true;
}

function ipWithFullMask(ip: string): string {
  const bytes = ipBytes(ip);
  return String.fromCharCode(...bytes, ...bytes.map(() => 0xff));
}

function ipFromMasked(raw: string): string | null {
  const half = raw.length / 2;
  if (half !== 4 && half !== 16) return null;
  const bytes = [...raw.slice(0, half)].map((c) => c.charCodeAt(0));
  if (half === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
}

function ipBytes(ip: string): number[] {
  if (isIPv4(ip)) return ip.split(".").map(Number);
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head = "", tail = ""] = canonical.split("::");
  const parse = (part: string) => (part ? part.split(":") : []);
  const left = parse(head);
  const right = canonical.includes("::") ? parse(tail) : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return groups.flatMap((group) => {
    const value = Number.parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}
