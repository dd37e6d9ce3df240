/**
 * The redirect route's target: the proxy Service's ClusterIP, looked up by its name in the cluster's DNS
 * as the webhook runs, and again every interval (a Service's ClusterIP lasts as long as the Service, but an
 * uninstall and install makes a new one). Until it is known, pods asking for the redirect route are not
 * routed and say why.
 */
import { lookup } from "node:dns/promises";
import type { InjectionSettings } from "./pod-injection";

export interface RedirectTargetOptions {
  intervalMs?: number;
  log?: (line: string) => void;
  /** The resolver (tests give their own). */
  resolve?: (host: string) => Promise<string>;
}

/**
 * Keeps `settings.redirect.proxy` at `<address of settings.proxyHost>:<proxyPort>`; resolves once before
 * returning. No-op when the redirect route is not configured or unavailable (said once in the log).
 * @returns a function that stops the refreshing.
 */
export async function keepRedirectTarget(
  settings: InjectionSettings,
  options: RedirectTargetOptions = {},
): Promise<() => void> {
  const redirect = settings.redirect;
  if (!redirect) return () => {};
  if (redirect.unavailable) {
    options.log?.(`redirect route unavailable: ${redirect.unavailable}`);
    return () => {};
  }
  const resolve = options.resolve ?? (async (host) => (await lookup(host, { family: 4 })).address);
  const refresh = async () => {
    try {
      const target = `${await resolve(settings.proxyHost)}:${settings.proxyPort}`;
      if (target !== redirect.proxy)
        options.log?.(`redirect route: ${redirect.apiserver} -> ${target} (${settings.proxyHost})`);
      redirect.proxy = target;
    } catch (error) {
      // Keep the last known address: a DNS hiccup must not stop routing pods.
      options.log?.(`redirect route: cannot resolve ${settings.proxyHost}: ${(error as Error).message}`);
    }
  };
  await refresh();
  const timer = setInterval(() => void refresh(), options.intervalMs ?? 30_000);
  timer.unref();
  return () => clearInterval(timer);
}
