export * from "./audit-event";
export * from "./json-objects";
