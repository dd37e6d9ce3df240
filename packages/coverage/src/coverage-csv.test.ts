import { describe, expect, it } from "vitest";
import { COVERAGE_CSV_COLUMNS, coverageCsv, csvField, csvTable } from "./coverage-csv";
import { coverageRow } from "./testing";

describe("coverageCsv", () => {
  it("writes the header and one CRLF-terminated row per endpoint, null as empty", () => {
    const csv = coverageCsv([
      coverageRow({}),
      coverageRow({
        operationId: "x",
        group: null,
        kind: null,
        hits: 0,
        upstreamTested: null,
        level: "alpha",
      }),
    ]);
    expect(csv).toBe(
      `${COVERAGE_CSV_COLUMNS.join(",")}\r\n` +
        "listCoreV1Node,GET,/api/v1/nodes,stable,core,,v1,Node,false,true,4,true\r\n" +
        "x,GET,/api/v1/nodes,alpha,core,,v1,,false,true,0,\r\n",
    );
  });

  it("quotes commas, quotes and line breaks (RFC 4180) and defuses spreadsheet formulas", () => {
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField("two\r\nlines")).toBe('"two\r\nlines"');
    expect(csvField("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvField("-1,2")).toBe(`"'-1,2"`);
    for (const lead of ["+", "@"]) expect(csvField(`${lead}x`)).toBe(`'${lead}x`);
    expect(csvField(-3)).toBe("'-3");
    expect(csvField(false)).toBe("false");
    expect(csvTable(["a", "b"], [{ a: "1", b: null }])).toBe("a,b\r\n1,\r\n");
  });
});
