import { readFileSync } from "node:fs";
import { join } from "node:path";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { proxyCommand } from "../../apps/cli/src/commands/proxy";
import { readEnv } from "../../apps/web/src/env";
import { repoRoot } from "../rig/rig";

/*
 * docker-compose.yml (PostgreSQL + web + proxy for a laptop) checked against what the apps accept: the
 * web app's env.ts, the flags of `apisnoop proxy`, the images' Dockerfiles. It sits in tools/, beside
 * the rig, because it reads several apps, which no app may import from another.
 */

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, unknown> | string[];
}

const compose = load(readFileSync(join(repoRoot, "docker-compose.yml"), "utf8")) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const service = (name: string): ComposeService => {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};
/** `${NAME:?message}` / `${NAME:-default}` as compose would interpolate them with `values`. */
const interpolate = (text: string, values: Record<string, string>) =>
  text.replace(
    /\$\{(\w+)(?::[?-]([^}]*))?\}/g,
    (_, name: string, fallback?: string) => values[name] ?? fallback ?? "",
  );
/** `--flag=value` arguments of a command as a map. */
const flags = (command: string[]) =>
  Object.fromEntries(
    command
      .filter((arg) => arg.startsWith("--"))
      .map((arg) => arg.slice(2).split("=", 2) as [string, string]),
  );

describe("docker-compose.yml", () => {
  it("runs postgres, web and proxy, from the repository's Dockerfiles", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["postgres", "proxy", "web"]);
    expect(service("web").build).toEqual({ context: ".", dockerfile: "apps/web/Dockerfile" });
    expect(service("proxy").build).toEqual({ context: ".", dockerfile: "apps/proxy/Dockerfile" });
  });

  it("gives the web app settings its env.ts accepts, a database the postgres service serves", () => {
    const web = service("web");
    const source = readFileSync(join(repoRoot, "apps/web/src/env.ts"), "utf8");
    const environment = Object.fromEntries(
      Object.entries(web.environment ?? {}).map(([name, value]) => [
        name,
        interpolate(String(value), { APISNOOP_INGEST_TOKEN: "a-token-of-twenty-chars" }),
      ]),
    );
    for (const name of Object.keys(environment))
      expect(source, `env.ts reads ${name}`).toContain(`  ${name}:`);
    const env = readEnv(environment);
    expect(env.HOST).toBe("0.0.0.0");
    const database = new URL(env.DATABASE_URL ?? "");
    const postgres = service("postgres").environment ?? {};
    expect(database.hostname).toBe("postgres");
    expect(database.username).toBe(postgres.POSTGRES_USER);
    expect(database.password).toBe(postgres.POSTGRES_PASSWORD);
    expect(database.pathname).toBe(`/${postgres.POSTGRES_DB}`);
    expect(web.ports).toEqual([`127.0.0.1:${env.PORT}:${env.PORT}`]);
    expect(web.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    // Both sides of ingest share one token, and compose refuses to start without it.
    expect(web.environment?.APISNOOP_INGEST_TOKEN).toMatch(/^\$\{APISNOOP_INGEST_TOKEN:\?/);
    expect(service("proxy").environment?.APISNOOP_INGEST_TOKEN).toBe(web.environment?.APISNOOP_INGEST_TOKEN);
  });

  it("starts the proxy with flags `apisnoop proxy` has, the kubeconfig mounted read-only", () => {
    const proxy = service("proxy");
    expect(proxy.command?.[0]).toBe("proxy");
    const given = flags(proxy.command ?? []);
    for (const flag of Object.keys(given)) expect(proxyCommand.help).toContain(`--${flag} `);
    const kubeconfigMount = proxy.volumes?.find((volume) => volume.includes(`:${given.kubeconfig}:`));
    expect(kubeconfigMount).toMatch(/:ro$/);
    const listenPort = given.listen?.split(":")[1];
    const adminPort = given["admin-listen"]?.split(":")[1];
    expect(proxy.ports).toEqual([
      `127.0.0.1:${listenPort}:${listenPort}`,
      `127.0.0.1:${adminPort}:${adminPort}`,
    ]);
    expect(given["ca-dir"]?.startsWith("/var/lib/apisnoop/")).toBe(true);
    expect(proxy.volumes).toContain("proxy-data:/var/lib/apisnoop");
    expect(Object.keys(compose.volumes).sort()).toEqual(["postgres-data", "proxy-data"]);
  });

  it("builds images whose final stage is non-root and has no dev dependencies", () => {
    for (const dockerfile of ["apps/web/Dockerfile", "apps/proxy/Dockerfile"]) {
      const text = readFileSync(join(repoRoot, dockerfile), "utf8");
      const stages = text.split(/^FROM /m).slice(1);
      const final = stages.at(-1) ?? "";
      expect(stages.length, dockerfile).toBeGreaterThan(1);
      expect(final, dockerfile).toMatch(/^USER node$/m);
      expect(final, dockerfile).not.toMatch(/^RUN npm (ci|install)/m);
      expect(text, dockerfile).toMatch(/npm ci --omit=dev/);
      // What the final stage installs comes from the --omit=dev stage.
      expect(final, dockerfile).toMatch(/COPY --from=deps \/app\/node_modules/);
    }
  });
});
