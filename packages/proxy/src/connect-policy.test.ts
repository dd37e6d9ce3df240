import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConnectPolicy, parseAllowTunnel, requestTargetProblem } from "./connect-policy";

const policy = new ConnectPolicy({
  upstream: { host: "127.0.0.1", port: 6443 },
  apiserverNames: ["kubernetes.default.svc", "Kubernetes", "10.96.0.1", "fd00::1"],
  allowTunnel: [parseAllowTunnel("registry.example:443"), parseAllowTunnel("[::1]:8080")],
});

describe("ConnectPolicy", () => {
  it.each([
    "127.0.0.1:6443",
    "127.1:6443",
    "kubernetes.default.svc:443",
    "KUBERNETES.default.svc.:443",
    "kubernetes:443",
    "10.96.0.1:443",
    "[fd00:0::1]:443",
  ])("decrypts the apiserver's names: %s", (target) => {
    expect(policy.decide(target).action).toBe("intercept");
  });

  it.each(["registry.example:443", "REGISTRY.example.:443", "[0::1]:8080"])(
    "tunnels what the operator allowed: %s",
    (target) => {
      expect(policy.decide(target).action).toBe("tunnel");
    },
  );

  it.each([
    "127.0.0.1:5432",
    "127.0.0.2:6443",
    "localhost:6443",
    "[::1]:6443",
    "0x7f000001:22",
    "169.254.169.254:80",
    "registry.example:80",
    "[::1]:8081",
    "metadata.google.internal:80",
  ])("refuses everything else with 403: %s", (target) => {
    const decision = policy.decide(target);
    expect(decision).toMatchObject({ action: "refuse", code: 403 });
  });

  it.each(["x:abc", "x:70000", "x", "[::1]", "a@b:1", ""])(
    "answers 400 to a malformed target: %j",
    (target) => {
      expect(policy.decide(target)).toMatchObject({ action: "refuse", code: 400 });
    },
  );

  it("relays to no authority it was not given, whatever the target", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.domain().map((d) => `${d}:443`),
        ),
        (target) => {
          const decision = policy.decide(target);
          if (decision.action === "tunnel") {
            expect(["registry.example:443", "[::1]:8080"]).toContain(
              `${decision.target.host.includes(":") ? `[${decision.target.host}]` : decision.target.host}:${decision.target.port}`,
            );
          }
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe("parseAllowTunnel", () => {
  it("throws one line for a value that is not HOST:PORT", () => {
    expect(() => parseAllowTunnel("example.com")).toThrow(/^'example.com' is not HOST:PORT/);
    expect(() => parseAllowTunnel("::1:443")).toThrow(/not HOST:PORT/);
  });
});

describe("requestTargetProblem", () => {
  it("takes origin-form, refuses absolute-form with 403 and anything else with 400", () => {
    expect(requestTargetProblem("/api/v1/pods?watch=1")).toBeNull();
    expect(requestTargetProblem("http://127.0.0.1:5432/")).toMatchObject({ code: 403 });
    expect(requestTargetProblem("HTTPS://kubernetes.default.svc/api")).toMatchObject({ code: 403 });
    expect(requestTargetProblem("*")).toMatchObject({ code: 400 });
    expect(requestTargetProblem("example.com:443")).toMatchObject({ code: 400 });
    expect(requestTargetProblem(undefined)).toMatchObject({ code: 400 });
  });
});
