import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readGinkgoReport } from "./ginkgo-report";

describe("readGinkgoReport", () => {
  it("keeps the It specs that ran, with full text, state, seconds and failure", () => {
    const file = join(mkdtempSync(join(tmpdir(), "ginkgo-report-")), "report.json");
    const node = (
      type: string,
      text: string,
      containers: string[] | null,
      state: string,
      runTime: number,
    ) => ({
      LeafNodeType: type,
      LeafNodeText: text,
      ContainerHierarchyTexts: containers,
      State: state,
      RunTime: runTime,
      ...(state === "failed" ? { Failure: { Message: "boom" } } : {}),
    });
    writeFileSync(
      file,
      JSON.stringify([
        {
          SpecReports: [
            node("SynchronizedBeforeSuite", "", null, "passed", 1e9),
            node("It", "should work [Conformance]", ["[sig-a] Thing"], "passed", 1_234_000_000),
            node("It", "should fail [Conformance]", ["[sig-a] Thing", "nested"], "failed", 5e8),
            node("It", "is skipped", ["[sig-b] Other"], "skipped", 0),
          ],
        },
      ]),
    );
    expect(readGinkgoReport(file)).toEqual([
      { name: "[sig-a] Thing should work [Conformance]", state: "passed", durationSeconds: 1.23 },
      {
        name: "[sig-a] Thing nested should fail [Conformance]",
        state: "failed",
        durationSeconds: 0.5,
        failure: "boom",
      },
    ]);
  });
});
