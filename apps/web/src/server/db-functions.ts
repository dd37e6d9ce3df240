// TEMPORARY: packages/db does not export these from its entry point yet; switch to "@apisnoop/db" then.
export { recordBatch } from "../../../../packages/db/src/record-batch";
export { loadRelease } from "../../../../packages/db/src/releases";
