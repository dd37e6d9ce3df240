import { describe, expect, it } from "vitest";
import { e2eSuiteCommand } from "./e2e-suite";

const base = { binary: "/cache/bin/e2e.test", kubeconfig: "/out/kubeconfig", focus: "(a)$" };

describe("e2eSuiteCommand", () => {
  it("runs e2e.test itself with ginkgo's flags prefixed, and no nodes asked for without a node", () => {
    const command = e2eSuiteCommand(base, "/out/report.json");
    expect(command[0]).toBe("/cache/bin/e2e.test");
    expect(command).toContain("--num-nodes=0");
    expect(command).toContain("--ginkgo.focus=(a)$");
    expect(command).toContain("--ginkgo.json-report=/out/report.json");
    expect(command.some((arg) => arg.startsWith("--kube-test-repo-list"))).toBe(false);
  });

  it("runs ginkgo's CLI beside e2e.test for parallel processes, the suite's flags after --", () => {
    const command = e2eSuiteCommand(
      { ...base, procs: 4, node: { repoList: "/out/repo-list.yaml" } },
      "/out/report.json",
    );
    expect(command.slice(0, 2)).toEqual(["/cache/bin/ginkgo", "--procs=4"]);
    const separator = command.indexOf("--");
    expect(command[separator - 1]).toBe("/cache/bin/e2e.test");
    expect(command.slice(0, separator)).toContain("--focus=(a)$");
    expect(command.slice(separator)).toEqual([
      "--",
      "--kubeconfig=/out/kubeconfig",
      "--provider=skeleton",
      "--kube-test-repo-list=/out/repo-list.yaml",
      "--disable-log-dump",
    ]);
  });
});
