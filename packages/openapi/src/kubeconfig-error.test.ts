import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { kubeconfigErrorLine } from "./kubeconfig-error";

/** What js-yaml throws for `text`. */
function yamlError(text: string): unknown {
  try {
    load(text);
  } catch (error) {
    return error;
  }
  throw new Error("no error");
}

describe("kubeconfigErrorLine", () => {
  it("gives js-yaml's reason and position, never the snippet of the lines around the error", () => {
    const error = yamlError("users:\n- name: a\n  user:\n    token: SUPERSECRET\n   bad: [\n");
    expect((error as Error).message).toContain("SUPERSECRET");
    const line = kubeconfigErrorLine(error);
    expect(line).not.toContain("SUPERSECRET");
    expect(line).toMatch(/^bad indentation of a mapping entry \(line 5, column \d+\)$/);
  });

  it("cuts alias and tag names out of a reason: they are text of the file", () => {
    for (const value of ["!SUPERSECRET", "*SUPERSECRET", "!<SUPERSECRET> x", "!SUPER%SECRET!x y"]) {
      const error = yamlError(`users:\n- user:\n    token: ${value}\n`);
      const line = kubeconfigErrorLine(error);
      expect(line).not.toContain("SUPER");
      expect(line).toMatch(/\(line 3, column \d+\)$/);
    }
  });

  it("says only 'not valid JSON' for JSON.parse's errors, which quote the text", () => {
    let error: unknown;
    try {
      JSON.parse('{"token": SUPERSECRET}');
    } catch (caught) {
      error = caught;
    }
    expect(kubeconfigErrorLine(error)).toBe("not valid JSON");
  });

  it("keeps the first line of any other error", () => {
    expect(kubeconfigErrorLine(new Error("ENOENT: no such file, open '/x'\nmore"))).toBe(
      "ENOENT: no such file, open '/x'",
    );
  });
});
