import { describe, expect, it } from "vitest";
import { kubernetesQuery } from "./query";

describe("kubernetesQuery", () => {
  it("keeps Kubernetes' parameters in order and encoding, and drops the rest", () => {
    expect(kubernetesQuery("labelSelector=app%3Dweb&utm=x&limit=500&token=s3cret")).toBe(
      "labelSelector=app%3Dweb&limit=500",
    );
    expect(kubernetesQuery("")).toBe("");
    expect(kubernetesQuery("watch")).toBe("watch");
  });

  it("keeps only that exec's command was present, never what it said", () => {
    const query =
      "command=mysql&command=--password%3Dhunter2&command=-e&command=select+1&container=db&stdin=true&stdout=true";
    const kept = kubernetesQuery(query);
    expect(kept).toBe("command&container=db&stdin=true&stdout=true");
    expect(kept).not.toContain("hunter2");
    expect(kubernetesQuery("stdout=true&command=env")).toBe("stdout=true&command");
    expect(kubernetesQuery("command")).toBe("command");
  });
});
