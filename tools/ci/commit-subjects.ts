/**
 * The commit-subject rule (`npm run lint:commits`, lint-commits.ts): every commit since {@link CHECKED_SINCE} has a subject of at most
 * {@link MAX_SUBJECT_LENGTH} characters that starts with exactly one of {@link COMMIT_SCOPES} — the house
 * rule, so `git log --oneline` reads as one list per area and fits a terminal. Commits up to
 * CHECKED_SINCE are left as they are: rewriting main's history would change every hash cited since.
 *
 * `.ci/run` runs it on its fresh clone; a shallow clone that lacks CHECKED_SINCE checks every commit it
 * has (all of them are newer). `--message-file FILE` checks one message instead, for a commit-msg hook:
 * `printf 'npm run -s lint:commits -- --message-file "$1"\n' > .git/hooks/commit-msg; chmod +x …`.
 */
import { execFileSync } from "node:child_process";

/** The one scope a subject starts with, `scope: what changed`. */
export const COMMIT_SCOPES = [
  "proxy",
  "web",
  "db",
  "openapi",
  "coverage",
  "protocol",
  "cli",
  "chart",
  "webhook",
  "rig",
  "e2e",
  "docs",
  "ci",
  "audit",
] as const;

/** Longest subject, in characters: what `git log --oneline` shows beside its hash in 80 columns. */
export const MAX_SUBJECT_LENGTH = 72;

/** The last commit of main before this check existed; later commits are checked. */
export const CHECKED_SINCE = "cb3f47b04c9547e1997c9dfd36cb0d7539832a7c";

/**
 * Commits after CHECKED_SINCE that broke the rule and are on main: landed by helpers who did not run the
 * check yet. Named one by one, so that every other commit stays checked; main's history is not rewritten.
 */
export const LANDED_EXCEPTIONS: ReadonlySet<string> = new Set([
  "0de26f0c45f4a542429eaf05ef6c54524939f4e3", // 76 characters
  "4b94772f5248774c43bb23dddd14bd7bd5f9c76c", // 73 characters
]);

const SUBJECT = /^([a-z0-9-]+): \S/;

/** What is wrong with `subject`, or undefined when it keeps the rule. */
export function subjectProblem(subject: string): string | undefined {
  const length = [...subject].length;
  if (length > MAX_SUBJECT_LENGTH) return `${length} characters, more than ${MAX_SUBJECT_LENGTH}`;
  const scope = SUBJECT.exec(subject)?.[1];
  if (scope === undefined || !(COMMIT_SCOPES as readonly string[]).includes(scope)) {
    return `does not start with one scope of ${COMMIT_SCOPES.join(", ")} and ": "`;
  }
  return undefined;
}

/** The subject of a commit message as git takes it: the first line that is neither empty nor a comment. */
export function messageSubject(message: string): string {
  return (
    message
      .split("\n")
      .map((line) => line.trimEnd())
      .find((line) => line !== "" && !line.startsWith("#")) ?? ""
  );
}

/** One commit that breaks the rule. */
export interface SubjectFinding {
  commit: string;
  subject: string;
  problem: string;
}

function git(cwd: string, args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * The commits of `head` not reachable from `since` (merges skipped: a fast-forward main has none) that
 * break the rule, oldest first, but for `exceptions`. When the repository does not have `since`: a shallow clone's commits are
 * all newer, so all are checked; in a full history that is an error.
 * @throws Error when `since` is absent from a full history, or git fails.
 */
export function commitFindings(
  cwd: string,
  since: string = CHECKED_SINCE,
  head = "HEAD",
  exceptions: ReadonlySet<string> = LANDED_EXCEPTIONS,
): SubjectFinding[] {
  let range: string[];
  try {
    git(cwd, ["cat-file", "-e", `${since}^{commit}`]);
    range = [`${since}..${head}`];
  } catch {
    if (git(cwd, ["rev-parse", "--is-shallow-repository"]).trim() !== "true") {
      throw new Error(`lint:commits: commit ${since} is not in this repository's history`);
    }
    range = [head];
  }
  const log = git(cwd, ["log", "--no-merges", "--reverse", "--format=%H%x00%s", ...range, "--"]);
  const findings: SubjectFinding[] = [];
  for (const line of log.split("\n")) {
    if (!line) continue;
    const [commit = "", subject = ""] = line.split("\0");
    const problem = exceptions.has(commit) ? undefined : subjectProblem(subject);
    if (problem) findings.push({ commit, subject, problem });
  }
  return findings;
}
