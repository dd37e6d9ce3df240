import type { Level } from "@apisnoop/openapi";
import { coverageOf, type SunburstNode } from "./sunburst-tree";

/** One hue per level, as apisnoop has them: stable green, beta blue, alpha red. */
export const LEVEL_COLORS: Record<Level, string> = {
  stable: "#11a05a",
  beta: "#1f78c1",
  alpha: "#e0314b",
};

/** Endpoints the selection did not hit. */
export const UNTESTED_COLOR = "#e4e4e7";
/** The rim mark of endpoints that upstream e2e tests exercise. */
export const UPSTREAM_COLOR = "#52525b";

/**
 * Fill of an arc. Endpoints: their level's colour when hit, grey when not. Inner arcs: their level's hue,
 * paler the less of them is hit, so coverage reads from the centre outwards.
 */
export function arcColor(node: SunburstNode): string {
  const level = node.level ?? "stable";
  if (node.endpoint) return node.endpoint.hits > 0 ? LEVEL_COLORS[level] : UNTESTED_COLOR;
  return mix("#f4f4f5", LEVEL_COLORS[level], 0.22 + 0.78 * coverageOf(node));
}

/** Mixes two `#rrggbb` colours; `t` = 0 gives `a`, 1 gives `b`. */
export function mix(a: string, b: string, t: number): string {
  const channel = (hex: string, i: number) => Number.parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16);
  let out = "#";
  for (let i = 0; i < 3; i++) {
    const value = Math.round(channel(a, i) + (channel(b, i) - channel(a, i)) * t);
    out += value.toString(16).padStart(2, "0");
  }
  return out;
}

/** Text colour readable on `background` (#rrggbb). */
export function labelColor(background: string): string {
  const [r, g, b] = [0, 1, 2].map((i) => Number.parseInt(background.slice(1 + 2 * i, 3 + 2 * i), 16));
  const luminance = (0.299 * (r ?? 0) + 0.587 * (g ?? 0) + 0.114 * (b ?? 0)) / 255;
  return luminance > 0.6 ? "#18181b" : "#ffffff";
}
