import { countCoverage } from "./coverage-counts";
import type { EndpointCoverageRow } from "./endpoint-coverage";

/** Which share a badge shows. */
export const BADGE_METRICS = ["all", "stable", "eligible"] as const;
export type BadgeMetric = (typeof BADGE_METRICS)[number];

/** Endpoints of a badge's metric and how many of them were hit. */
export interface BadgeFigures {
  hit: number;
  total: number;
}

/**
 * The figures a badge of `metric` shows for a selection's endpoints: all of them, the stable ones, or the
 * conformance-eligible ones; an endpoint counts as hit with at least one hit.
 */
export function badgeFigures(
  endpoints: readonly Pick<EndpointCoverageRow, "hits" | "level" | "conformanceEligible">[],
  metric: BadgeMetric,
): BadgeFigures {
  const counts = countCoverage(endpoints);
  const count =
    metric === "stable"
      ? counts.byLevel.stable
      : metric === "eligible"
        ? counts.conformanceEligible
        : counts.all;
  return { hit: count.tested, total: count.endpoints };
}

/**
 * A shields.io-style flat badge: `label | 42.1% (362/859)`, coloured from red (nothing) to green (all).
 * Text widths are estimated (Verdana 11px averages 6.5 px per character), as shields' own fallback does.
 */
export function coverageBadge(label: string, hit: number, total: number): string {
  const share = total === 0 ? 0 : hit / total;
  const value = `${(share * 100).toFixed(1)}% (${hit}/${total})`;
  const color =
    share >= 0.8
      ? "#4c1"
      : share >= 0.6
        ? "#97ca00"
        : share >= 0.4
          ? "#dfb317"
          : share >= 0.2
            ? "#fe7d37"
            : "#e05d44";
  const labelWidth = textWidth(label) + 10;
  const valueWidth = textWidth(value) + 10;
  const width = labelWidth + valueWidth;
  const title = `${label}: ${value}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`,
    `<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>`,
    `<g clip-path="url(#r)"><rect width="${labelWidth}" height="20" fill="#555"/><rect x="${labelWidth}" width="${valueWidth}" height="20" fill="${color}"/><rect width="${width}" height="20" fill="url(#s)"/></g>`,
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`,
    `<text x="${labelWidth / 2}" y="14">${escapeXml(label)}</text>`,
    `<text x="${labelWidth + valueWidth / 2}" y="14">${escapeXml(value)}</text>`,
    "</g></svg>",
  ].join("");
}

function textWidth(text: string): number {
  return Math.round(text.length * 6.5);
}

/** Escapes text for XML content and attribute values (numeric references, valid in SVG and JUnit alike). */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
