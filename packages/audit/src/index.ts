export * from "./audit-event";
export * from "./hit-line";
export * from "./import-audit";
export * from "./json-objects";
