import { SHARED_K8S, sharedSpecPath } from "@apisnoop/openapi/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../run-cli.test-support";

describe("apisnoop compare", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("diffs two releases from the reference folder as JSON", async () => {
    vi.stubEnv("APISNOOP_REFERENCE_DIR", SHARED_K8S);
    const { code, stdout, stderr } = await runCli([
      "compare",
      "--from",
      "1.33",
      "--to",
      "1.34",
      "--format",
      "json",
    ]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const diff = JSON.parse(stdout);
    expect(diff.from).toBe("1.33");
    expect(diff.added).toHaveLength(66);
    expect(diff.promoted).toContainEqual({
      from: "createAdmissionregistrationV1alpha1MutatingAdmissionPolicy",
      to: "createAdmissionregistrationV1beta1MutatingAdmissionPolicy",
      fromLevel: "alpha",
      toLevel: "beta",
    });
  });

  it("accepts spec files and prints text", async () => {
    const { code, stdout } = await runCli([
      "compare",
      "--from",
      sharedSpecPath("1.35"),
      "--to",
      sharedSpecPath("1.36"),
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^1\.35 → 1\.36: 54 added, \d+ removed, \d+ promoted, 0 newly deprecated\n/);
    expect(stdout).toContain("createAdmissionregistrationV1MutatingAdmissionPolicy");
  });

  it("says what is missing", async () => {
    expect(await runCli(["compare", "--from", "1.33"])).toMatchObject({
      code: 2,
      stderr: "apisnoop compare: --from and --to are required (see 'apisnoop compare --help')\n",
    });
    expect(await runCli(["compare", "--from", "1.33", "--to", "1.34", "--format", "xml"])).toMatchObject({
      code: 2,
    });
  });
});
