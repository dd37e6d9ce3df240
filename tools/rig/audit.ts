/** Reading the rig's audit log (JSON lines, audit.k8s.io/v1 Event) in tests. */
import { existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { readRigState } from "./rig";

/** The audit.k8s.io/v1 Event fields the tests look at. */
export interface AuditEvent {
  auditID: string;
  stage: "RequestReceived" | "ResponseStarted" | "ResponseComplete" | "Panic";
  level: "Metadata" | "Request" | "RequestResponse";
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  userAgent?: string;
  /** The client's address as the apiserver saw it (X-Forwarded-For entries first, if any). */
  sourceIPs?: string[];
  objectRef?: {
    resource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    apiVersion?: string;
  };
  responseStatus?: { code?: number };
  requestObject?: unknown;
  responseObject?: unknown;
}

/** Every event in the rig's audit log (an empty list before the first request). */
export function readAuditEvents(path: string = readRigState().auditLog): AuditEvent[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as AuditEvent);
}

/**
 * Waits until `predicate` holds for the events of `username` (the log is written just after the response,
 * so a test that has its answer may be a few milliseconds ahead of the log).
 * @returns that user's events at the moment the predicate held.
 * @throws Error after `timeoutMs` with the predicate's description.
 */
export async function waitForAudit(
  username: string,
  predicate: (events: AuditEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<AuditEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = readAuditEvents().filter((e) => e.user.username === username);
    if (predicate(events)) return events;
    if (Date.now() > deadline) {
      throw new Error(
        `audit log: condition not met for user ${username} within ${timeoutMs} ms (${events.length} events)`,
      );
    }
    await sleep(100);
  }
}
