/**
 * Realistic request URLs instantiated from spec path templates: used by the round-trip tests and the
 * matcher benchmark. Names have dots, dashes, colons (`http:web:8080`) and, now and then, percent-encoding.
 */

/** A small deterministic PRNG (mulberry32), so test and benchmark corpora are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded choices for generated test data: one `seededRandom` stream, with integers and picks from it. */
export class SeededChoices {
  readonly random: () => number;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  /** An integer in [0, below). */
  int(below: number): number {
    return Math.floor(this.random() * below);
  }

  pick<T>(values: readonly T[]): T {
    return values[this.int(values.length)] as T;
  }
}

const WORDS = [
  "web",
  "api",
  "kube",
  "coredns",
  "metrics",
  "cert",
  "ingress",
  "db",
  "cache",
  "worker",
  "auth",
  "log",
];
const SUFFIXES = ["server", "controller", "manager", "proxy", "agent", "operator", "config", "token", "data"];

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** A DNS-1123 style object name, sometimes with dots or a hash suffix as controllers make them. */
export function randomName(random: () => number): string {
  const base = `${pick(WORDS, random)}-${pick(SUFFIXES, random)}`;
  const roll = random();
  if (roll < 0.3) return `${base}-${Math.floor(random() * 0xfffff).toString(16)}`;
  if (roll < 0.45) return `${base}.v${Math.floor(random() * 9)}.example.com`;
  if (roll < 0.55) return `${base}-${Math.floor(random() * 5)}`;
  return base;
}

/** A proxy target name: `name`, `name:port` or `scheme:name:port`. */
function randomProxyName(random: () => number): string {
  const roll = random();
  const name = randomName(random);
  if (roll < 0.3) return `http:${name}:8080`;
  if (roll < 0.5) return `${name}:${pick(["80", "443", "metrics", "9090"], random)}`;
  return name;
}

/** A sub-path for `{path}` / `{logpath}`: one to four segments. */
function randomSubPath(random: () => number): string {
  const parts = ["api", "v2", "items", "metrics", "healthz", "stats", "summary", "ui", "index.html", "7"];
  const count = 1 + Math.floor(random() * 4);
  return Array.from({ length: count }, () => pick(parts, random)).join("/");
}

/** Percent-encodes one character of a segment with probability `rate`, as some clients do. */
function maybeEncode(segment: string, random: () => number, rate: number): string {
  if (random() >= rate || segment.length === 0) return encodeURIComponent(segment);
  const at = Math.floor(random() * segment.length);
  const char = segment.charCodeAt(at).toString(16).toUpperCase().padStart(2, "0");
  return `${encodeURIComponent(segment.slice(0, at))}%${char}${encodeURIComponent(segment.slice(at + 1))}`;
}

/**
 * Fills a path template's parameters with random realistic values; `encodeRate` is the share of names
 * that get one needlessly percent-encoded character.
 */
export function instantiateTemplate(template: string, random: () => number, encodeRate = 0.15): string {
  const proxy = template.includes("/proxy");
  return template.replace(/\{(\w+)\}/g, (_whole, parameter: string) => {
    if (parameter === "path" || parameter === "logpath") return randomSubPath(random);
    if (parameter === "name" && proxy) return maybeEncode(randomProxyName(random), random, encodeRate);
    return maybeEncode(randomName(random), random, encodeRate);
  });
}
