import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  COMMIT_SCOPES,
  commitFindings,
  MAX_SUBJECT_LENGTH,
  messageSubject,
  subjectProblem,
} from "./commit-subjects";

describe("subjectProblem", () => {
  it("accepts one house scope and a subject of up to 72 characters", () => {
    for (const scope of COMMIT_SCOPES) expect(subjectProblem(`${scope}: a change, and why`)).toBeUndefined();
    const longest = `db: ${"x".repeat(MAX_SUBJECT_LENGTH - 4)}`;
    expect([...longest].length).toBe(72);
    expect(subjectProblem(longest)).toBeUndefined();
  });

  it("refuses a subject over 72 characters, counting characters, not bytes", () => {
    expect(subjectProblem(`db: ${"x".repeat(69)}`)).toBe("73 characters, more than 72");
    expect(subjectProblem(`db: ${"é".repeat(68)}`)).toBeUndefined();
  });

  it("refuses two scopes, an unknown or sub-scope, or none", () => {
    for (const subject of [
      "db, web: the filter selects upstream",
      "bench:proxy: h2load rows",
      "test: one fixture",
      "images: debian bases",
      "README: seven runs",
      "Merge branch 'x'",
      "web:no space",
      "web: ",
    ]) {
      expect(subjectProblem(subject), subject).toMatch(/^does not start with one scope/);
    }
  });
});

describe("messageSubject", () => {
  it("takes the first line that is neither empty nor a comment, as git does", () => {
    expect(messageSubject("\n# Please enter\nweb: a change  \n\nwhy\n")).toBe("web: a change");
    expect(messageSubject("# only comments\n")).toBe("");
  });
});

describe("commitFindings on a real repository", () => {
  const dir = mkdtempSync(join(tmpdir(), "lint-commits-"));
  const git = (cwd: string, ...args: string[]) =>
    execFileSync("git", args, {
      cwd,
      encoding: "utf8",
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@example.org",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@example.org",
        GIT_CONFIG_GLOBAL: "/dev/null",
      },
    }).trim();
  const commit = (subject: string) => {
    writeFileSync(join(repo, "f"), subject);
    git(repo, "add", "f");
    git(repo, "commit", "-q", "-m", subject, "-m", "the why");
    return git(repo, "rev-parse", "HEAD");
  };
  const repo = join(dir, "repo");
  git(dir, "init", "-q", "-b", "main", repo);
  commit("test: an old subject the rule does not reach");
  const since = commit("README: the last one before the rule");
  const good = commit("web: a change within the rule");
  const long = commit(`db: ${"y".repeat(70)}`);
  const twoScopes = commit("db, web: two scopes");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("names each later commit that breaks the rule, oldest first, and none before `since`", () => {
    const findings = commitFindings(repo, since);
    expect(findings.map((f) => f.commit)).toEqual([long, twoScopes]);
    expect(findings[0]?.problem).toBe("74 characters, more than 72");
    expect(findings.map((f) => f.commit)).not.toContain(good);
  });

  it("passes over the commits named as exceptions, and only those", () => {
    expect(commitFindings(repo, since, "HEAD", new Set([long])).map((f) => f.commit)).toEqual([twoScopes]);
  });

  it("finds nothing when every later commit keeps the rule", () => {
    expect(commitFindings(repo, since, good)).toEqual([]);
  });

  it("checks every commit of a shallow clone that lacks `since`", () => {
    const shallow = join(dir, "shallow");
    git(dir, "clone", "-q", "--depth=2", `file://${repo}`, shallow);
    expect(commitFindings(shallow, since).map((f) => f.commit)).toEqual([long, twoScopes]);
  });

  it("refuses a full history that lacks `since`", () => {
    expect(() => commitFindings(repo, "0".repeat(40))).toThrow(/is not in this repository's history/);
  });
});
