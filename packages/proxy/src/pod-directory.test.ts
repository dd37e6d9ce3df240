import { describe, expect, it } from "vitest";
import { describeError, podAddresses, podIdentity } from "./pod-directory";

describe("podAddresses", () => {
  it("takes podIP and every podIPs entry, normalised and once", () => {
    expect(
      podAddresses({
        status: { podIP: "10.0.0.5", podIPs: [{ ip: "10.0.0.5" }, { ip: "FD00:0::5" }] },
      }),
    ).toEqual(["10.0.0.5", "fd00::5"]);
  });

  it("never names a host IP or the IP of a finished pod", () => {
    expect(
      podAddresses({ spec: { hostNetwork: true, containers: [] }, status: { podIP: "192.168.1.1" } }),
    ).toEqual([]);
    expect(podAddresses({ status: { phase: "Succeeded", podIP: "10.0.0.6" } })).toEqual([]);
    expect(podAddresses({ status: { phase: "Failed", podIP: "10.0.0.6" } })).toEqual([]);
    expect(podAddresses({ status: { phase: "Pending" } })).toEqual([]);
  });
});

describe("describeError", () => {
  it("keeps only the status of an HTTP failure: client-node's message carries the response headers", () => {
    const error = Object.assign(
      new Error("HTTP-Code: 403\nMessage: Unknown API Status Code!\nHeaders: {...}"),
      {
        code: 403,
      },
    );
    expect(describeError(error)).toBe("HTTP 403");
  });

  it("is one line with the cause of a network failure", () => {
    const error = new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:1") });
    expect(describeError(error)).toBe("fetch failed: connect ECONNREFUSED 127.0.0.1:1");
    expect(describeError(new Error("a\nb"))).toBe("a");
  });
});

describe("podIdentity", () => {
  it("reads the source name and the run from the pod's apisnoop.io annotations", () => {
    const identity = podIdentity({
      metadata: {
        name: "e2e-runner",
        namespace: "ci",
        annotations: { "apisnoop.io/source": "conformance", "apisnoop.io/run": "pr-42-attempt-1" },
      },
    });
    expect(identity).toMatchObject({ pod: "e2e-runner", sourceName: "conformance", run: "pr-42-attempt-1" });
    expect(podIdentity({ metadata: { name: "plain", namespace: "ci" } }).run).toBeNull();
  });
});
