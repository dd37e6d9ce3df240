import { describe, expect, it } from "vitest";
import {
  conformanceBenchEnv,
  e2eRequired,
  e2eRigDirFromEnv,
  e2eWorkDirFromEnv,
  goModCache,
  prebuiltE2eBinary,
} from "./env";

const onNode = (tests: string) => tests.startsWith("node");

describe("the e2e tooling's environment", () => {
  it("reads each folder and the prebuilt binary, an empty variable counting as unset", () => {
    const env = { E2E_WORK_DIR: "/w", E2E_RIG_DIR: "/r", E2E_TEST_BINARY: "/b/e2e.test" };
    expect([e2eWorkDirFromEnv(env), e2eRigDirFromEnv(env), prebuiltE2eBinary(env)]).toEqual([
      "/w",
      "/r",
      "/b/e2e.test",
    ]);
    const empty = { E2E_WORK_DIR: "", E2E_RIG_DIR: "", E2E_TEST_BINARY: "" };
    expect([e2eWorkDirFromEnv(empty), e2eRigDirFromEnv(empty), prebuiltE2eBinary(empty)]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("requires the conformance tests only for E2E_REQUIRED=1", () => {
    expect(e2eRequired({ E2E_REQUIRED: "1" })).toBe(true);
    expect(e2eRequired({ E2E_REQUIRED: "true" })).toBe(false);
    expect(e2eRequired({})).toBe(false);
  });

  it("finds Go's module cache as go does", () => {
    expect(goModCache({ GOMODCACHE: "/m", HOME: "/h" })).toBe("/m");
    expect(goModCache({ HOME: "/h" })).toBe("/h/go/pkg/mod");
    expect(goModCache({})).toBe("/root/go/pkg/mod");
  });
});

describe("conformanceBenchEnv", () => {
  it("defaults to API-only pairs of 12 tests for 25 minutes in one process, four processes on a node", () => {
    expect(conformanceBenchEnv(onNode, {})).toEqual({
      chunk: 12,
      pairs: 60,
      minutes: 25,
      tests: "api",
      only: undefined,
      procs: 1,
    });
    expect(conformanceBenchEnv(onNode, { BENCH_TESTS: "node-quick" }).procs).toBe(4);
  });

  it("reads chunk, pairs, minutes, processes and the BENCH_ONLY filter", () => {
    const settings = conformanceBenchEnv(onNode, {
      BENCH_CHUNK: "7",
      BENCH_PAIRS: "6",
      BENCH_MINUTES: "10",
      BENCH_PROCS: "3",
      BENCH_ONLY: "Pods?",
    });
    expect(settings).toMatchObject({ chunk: 7, pairs: 6, minutes: 10, procs: 3 });
    expect(settings.only?.test("Pod")).toBe(true);
  });

  it("stops with one line naming the variable for a bad count or pattern", () => {
    expect(() => conformanceBenchEnv(onNode, { BENCH_PAIRS: "two" })).toThrow(/^BENCH_PAIRS="two" is not/);
    expect(() => conformanceBenchEnv(onNode, { BENCH_PROCS: "0" })).toThrow(/^BENCH_PROCS="0"/);
    expect(() => conformanceBenchEnv(onNode, { BENCH_ONLY: "(" })).toThrow(
      /^BENCH_ONLY="\(" is not a regular/,
    );
  });
});
