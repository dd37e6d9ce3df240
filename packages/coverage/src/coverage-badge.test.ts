import { describe, expect, it } from "vitest";
import { BADGE_METRICS, badgeFigures, coverageBadge, escapeXml } from "./coverage-badge";
import { coverageRow } from "./testing";

describe("the badge", () => {
  it("renders the dashboard's SVG byte for byte", () => {
    expect(coverageBadge("k8s API coverage", 6, 859)).toBe(
      '<svg xmlns="http://www.w3.org/2000/svg" width="202" height="20" role="img" aria-label="k8s API coverage: 0.7% (6/859)"><title>k8s API coverage: 0.7% (6/859)</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="202" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="114" height="20" fill="#555"/><rect x="114" width="88" height="20" fill="#e05d44"/><rect width="202" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="57" y="14">k8s API coverage</text><text x="158" y="14">0.7% (6/859)</text></g></svg>',
    );
  });

  it("escapes the label and colours by share", () => {
    const svg = coverageBadge(`a<b>&"c'`, 5, 5);
    expect(svg).toContain("<title>a&#60;b&#62;&#38;&#34;c&#39;: 100.0% (5/5)</title>");
    expect(svg).toContain('fill="#4c1"');
    expect(coverageBadge("x", 0, 0)).toContain("x: 0.0% (0/0)");
    expect(coverageBadge("x", 1, 2)).toContain('fill="#dfb317"');
    expect(escapeXml(`<&>"'`)).toBe("&#60;&#38;&#62;&#34;&#39;");
  });

  it("counts the metric's endpoints and the hit ones", () => {
    const endpoints = [
      coverageRow({ hits: 3 }),
      coverageRow({ hits: 0 }),
      coverageRow({ hits: 1, conformanceEligible: false }),
      coverageRow({ hits: 2, level: "beta", conformanceEligible: false }),
      coverageRow({ hits: 0, level: "alpha", conformanceEligible: false }),
    ];
    expect(BADGE_METRICS.map((metric) => badgeFigures(endpoints, metric))).toEqual([
      { hit: 3, total: 5 },
      { hit: 2, total: 3 },
      { hit: 1, total: 2 },
    ]);
  });
});
