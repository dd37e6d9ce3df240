export * from "./audit-event";
export * from "./import-audit";
export * from "./json-objects";
