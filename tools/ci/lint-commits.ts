/**
 * `npm run lint:commits [-- --message-file FILE]`: checks the commits since CHECKED_SINCE (or one message)
 * against the subject rule of commit-subjects.ts; exit 1 naming each commit that breaks it, 2 for a usage
 * or git error.
 */
import { readFileSync } from "node:fs";
import { commitFindings, messageSubject, subjectProblem } from "./commit-subjects";

function main(args: string[]): number {
  if (args[0] === "--message-file") {
    if (!args[1]) {
      console.error("lint:commits: --message-file needs a file");
      return 2;
    }
    const subject = messageSubject(readFileSync(args[1], "utf8"));
    const problem = subjectProblem(subject);
    if (problem) console.error(`commit subject ${JSON.stringify(subject)}: ${problem}`);
    return problem ? 1 : 0;
  }
  if (args.length > 0) {
    console.error(`lint:commits: unknown argument ${args[0]} (only --message-file FILE)`);
    return 2;
  }
  const findings = commitFindings(process.cwd());
  for (const { commit, subject, problem } of findings) {
    console.error(`${commit.slice(0, 7)} ${JSON.stringify(subject)}: ${problem}`);
  }
  if (findings.length > 0) {
    console.error(
      `lint:commits: ${findings.length} commit subject(s) break the rule; reword them (git rebase -i) before landing`,
    );
    return 1;
  }
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 2;
}
