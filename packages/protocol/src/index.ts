export * from "./batch-id";
export * from "./hit";
export * from "./ingest";
export * from "./live";
export * from "./rollup-builder";
export * from "./source";
export * from "./split-batch";
