export * from "./apisnoop-coverage";
export * from "./apisnoop-export";
export * from "./conformance-status";
export * from "./coverage-diff";
export * from "./eligibility";
export * from "./release-diff";
export * from "./upstream-batch";
export * from "./usage-report";
