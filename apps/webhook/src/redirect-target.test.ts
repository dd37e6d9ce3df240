import { describe, expect, it } from "vitest";
import type { InjectionSettings } from "./pod-injection";
import { keepRedirectTarget } from "./redirect-target";

const base = (): InjectionSettings => ({
  proxyHost: "apisnoop-proxy.apisnoop.svc",
  proxyPort: 8443,
  caBundleConfigMap: "apisnoop-ca-bundle",
  redirect: { image: "redirect:dev", apiserver: "10.0.0.1:443", proxy: null },
});

describe("keepRedirectTarget", () => {
  it("resolves the proxy Service's name before returning, then follows a new address", async () => {
    const settings = base();
    const answers = ["10.0.0.37", "10.0.0.99"];
    const lines: string[] = [];
    const stop = await keepRedirectTarget(settings, {
      intervalMs: 10,
      resolve: async (host) => {
        expect(host).toBe("apisnoop-proxy.apisnoop.svc");
        return answers.length > 1 ? (answers.shift() as string) : (answers[0] as string);
      },
      log: (line) => lines.push(line),
    });
    expect(settings.redirect?.proxy).toBe("10.0.0.37:8443");
    await new Promise((resolve) => setTimeout(resolve, 50));
    stop();
    expect(settings.redirect?.proxy).toBe("10.0.0.99:8443");
    expect(lines).toEqual([
      "redirect route: 10.0.0.1:443 -> 10.0.0.37:8443 (apisnoop-proxy.apisnoop.svc)",
      "redirect route: 10.0.0.1:443 -> 10.0.0.99:8443 (apisnoop-proxy.apisnoop.svc)",
    ]);
  });

  it("keeps the last known address when the name does not resolve, and does nothing without the route", async () => {
    const settings = base();
    let fail = false;
    const stop = await keepRedirectTarget(settings, {
      intervalMs: 10,
      resolve: async () => {
        if (fail) throw new Error("ENOTFOUND");
        return "10.0.0.37";
      },
    });
    fail = true;
    await new Promise((resolve) => setTimeout(resolve, 40));
    stop();
    expect(settings.redirect?.proxy).toBe("10.0.0.37:8443");
    const ipv6 = base();
    if (ipv6.redirect) ipv6.redirect.unavailable = "IPv6";
    const said: string[] = [];
    (await keepRedirectTarget(ipv6, { resolve: async () => "10.0.0.37", log: (line) => said.push(line) }))();
    expect(ipv6.redirect?.proxy).toBeNull();
    expect(said).toEqual(["redirect route unavailable: IPv6"]);
    const without = { ...base(), redirect: undefined };
    (await keepRedirectTarget(without, { resolve: async () => "10.0.0.1" }))();
    expect(without.redirect).toBeUndefined();
  });
});
