export * from "./hit";
export * from "./ingest";
export * from "./live";
export * from "./rollup-builder";
export * from "./source";
