export * from "./ingest";
export * from "./source";
