/** Reads ginkgo v2's `--ginkgo.json-report` into one result per test (`It`) that ran. */
import { readFileSync } from "node:fs";

/** How one spec ended, as ginkgo names it. */
export type SpecState =
  | "passed"
  | "failed"
  | "skipped"
  | "pending"
  | "panicked"
  | "timedout"
  | "interrupted"
  | "aborted";

/** One test of an e2e run. */
export interface SpecResult {
  /** Full text: container texts and the `It` text joined by spaces (what follows ` -- ` in the user agent). */
  name: string;
  state: SpecState;
  durationSeconds: number;
  /** ginkgo's failure message, when it did not pass. */
  failure?: string;
}

interface GinkgoSpecReport {
  LeafNodeType: string;
  LeafNodeText: string;
  ContainerHierarchyTexts: string[] | null;
  State: SpecState;
  RunTime: number;
  Failure?: { Message?: string };
}

interface GinkgoSuiteReport {
  SpecReports: GinkgoSpecReport[] | null;
}

/**
 * The `It` specs a ginkgo JSON report lists as run (skipped and pending ones left out); suite-level nodes
 * (SynchronizedBeforeSuite, ReportAfterSuite) are not tests and are dropped too.
 */
export function readGinkgoReport(file: string): SpecResult[] {
  const suites = JSON.parse(readFileSync(file, "utf8")) as GinkgoSuiteReport[];
  return suites.flatMap((suite) =>
    (suite.SpecReports ?? [])
      .filter((spec) => spec.LeafNodeType === "It" && spec.State !== "skipped" && spec.State !== "pending")
      .map((spec) => {
        const result: SpecResult = {
          name: [...(spec.ContainerHierarchyTexts ?? []), spec.LeafNodeText].join(" "),
          state: spec.State,
          // RunTime is a Go time.Duration: nanoseconds.
          durationSeconds: Math.round(spec.RunTime / 1e7) / 100,
        };
        if (spec.State !== "passed" && spec.Failure?.Message) result.failure = spec.Failure.Message;
        return result;
      }),
  );
}
