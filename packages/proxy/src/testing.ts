import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { MatchResult } from "@apisnoop/openapi";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { createFlow, type Flow, type FlowRequest } from "./flow";
import { type SpecSnapshot, specSnapshot } from "./spec-snapshot";

/** A flow as the proxy would hand it to addons, for unit tests without sockets. */
export function fakeFlow(request: Partial<FlowRequest> = {}, rest: Partial<Flow> = {}): Flow {
  return {
    ...createFlow(
      "reverse",
      { method: "GET", url: "/api/v1/namespaces", userAgent: "kubectl/v1.34.0", upgrade: false, ...request },
      null,
      Date.parse("2026-01-02T03:04:05.678Z"),
    ),
    ...rest,
  };
}

const snapshots = new Map<string, SpecSnapshot>();

/** The snapshot of one release's real spec from `../shared/k8s` (compiled once per test file). */
export function sharedSnapshot(release: string): SpecSnapshot {
  let snapshot = snapshots.get(release);
  if (!snapshot) {
    snapshot = specSnapshot(sharedCatalog(release));
    snapshots.set(release, snapshot);
  }
  return snapshot;
}

/** A fake flow on `spec`, matched as the match-operation addon would match it. */
export function matchedFlow(
  spec: SpecSnapshot,
  request: Partial<FlowRequest> = {},
  rest: Partial<Flow> = {},
): Flow {
  const flow = fakeFlow(request, { spec, ...rest });
  flow.match = spec.matcher.match(flow.request.method, flow.request.url);
  return flow;
}

/** A match result for flows that need one but no spec: `operationId` on a stand-in endpoint. */
export function fakeMatch(operationId: string | null, more: Partial<MatchResult> = {}): MatchResult {
  const endpoint =
    operationId === null
      ? null
      : {
          operationId,
          method: "GET",
          path: "/",
          level: "stable" as const,
          category: "core",
          group: null,
          version: null,
          kind: null,
          action: null,
          description: null,
          deprecated: false,
          watchOperation: false,
          requestBodyRef: null,
          responseRefs: {},
        };
  return { endpoint, operationId, watch: false, ...more };
}

/** A real file system of `bytes` bytes (tmpfs), to meet ENOSPC as a full disk gives it. */
export interface SmallDisk {
  dir: string;
  /** Writes a file that takes all the room left. */
  fill(): void;
  /** Removes what `fill` wrote. */
  free(): void;
  unmount(): void;
}

/**
 * Mounts a tmpfs of `bytes` bytes at a new temporary directory; null where this process may not mount
 * (not root, or no CAP_SYS_ADMIN), so the caller can skip saying why.
 */
export function smallDisk(bytes: number): SmallDisk | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "small-disk-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes},mode=0700`, "tmpfs", dir], { stdio: "pipe" });
  } catch {
    fs.rmdirSync(dir);
    return null;
  }
  const filler = path.join(dir, "filler");
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, "a");
      try {
        const chunk = Buffer.alloc(4096);
        for (;;) fs.writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      } finally {
        fs.closeSync(fd);
      }
      // The last partial chunk may leave a few bytes: fill them byte by byte.
      const fd2 = fs.openSync(filler, "a");
      try {
        for (;;) fs.writeSync(fd2, Buffer.alloc(1));
      } catch {
        // full
      } finally {
        fs.closeSync(fd2);
      }
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    unmount() {
      execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      fs.rmdirSync(dir);
    },
  };
}
