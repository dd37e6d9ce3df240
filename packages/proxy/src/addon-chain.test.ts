import { describe, expect, it } from "vitest";
import { type Addon, AddonChain } from "./addon-chain";
import { fakeFlow } from "./testing";

describe("AddonChain", () => {
  it("calls each hook on the addons that have it, in chain order", () => {
    const calls: string[] = [];
    const addon = (name: string, hooks: ("request" | "done")[]): Addon => {
      const a: Addon = { name };
      for (const hook of hooks) a[hook] = () => calls.push(`${name}.${hook}`);
      return a;
    };
    const chain = new AddonChain([
      addon("a", ["request", "done"]),
      addon("b", ["done"]),
      addon("c", ["request"]),
    ]);
    const flow = fakeFlow();
    chain.run("request", flow);
    chain.run("done", flow);
    expect(calls).toEqual(["a.request", "c.request", "a.done", "b.done"]);
    expect(chain.has("response")).toBe(false);
    expect(chain.has("done")).toBe(true);
  });

  it("reports an addon that throws and goes on with the next one", () => {
    const failures: string[] = [];
    let reached = false;
    const chain = new AddonChain(
      [
        {
          name: "broken",
          done() {
            throw new Error("boom");
          },
        },
        {
          name: "after",
          done() {
            reached = true;
          },
        },
      ],
      (addon, hook, error) => failures.push(`${addon.name}:${hook}:${(error as Error).message}`),
    );
    expect(() => chain.run("done", fakeFlow())).not.toThrow();
    expect(failures).toEqual(["broken:done:boom"]);
    expect(reached).toBe(true);
  });
});
