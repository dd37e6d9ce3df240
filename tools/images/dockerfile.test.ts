import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { repoRoot } from "../rig/rig";
import { copyInstruction, dockerignoreMatcher, envPairs, parseDockerfile } from "./dockerfile";
import { imageFromDockerfile, npmCi } from "./dockerfile-image";

describe("parseDockerfile", () => {
  it("reads the project's Dockerfiles into named stages ending with the image's", () => {
    for (const app of ["proxy", "web"]) {
      const stages = parseDockerfile(readFileSync(join(repoRoot, "apps", app, "Dockerfile"), "utf8"));
      expect(stages.length, app).toBeGreaterThanOrEqual(2);
      expect(stages.at(-1)?.name, app).toBeUndefined();
      expect(
        stages.slice(0, -1).every((stage) => stage.name),
        app,
      ).toBe(true);
      for (const stage of stages) expect(stage.from, app).toMatch(/^node:/);
    }
  });

  it("joins continued lines, drops comments inside them, and keeps each instruction's first line", () => {
    const [stage] = parseDockerfile(
      [
        "# a comment",
        "FROM node:20 AS deps",
        "RUN npm ci \\",
        "  # inside",
        "  --omit=dev \\",
        " && echo done",
        "USER node",
      ].join("\n"),
    );
    expect(stage?.name).toBe("deps");
    expect(stage?.instructions).toEqual([
      { keyword: "RUN", args: "npm ci --omit=dev && echo done", line: 3 },
      { keyword: "USER", args: "node", line: 7 },
    ]);
  });

  it("refuses an instruction before FROM", () => {
    expect(() => parseDockerfile("RUN true\nFROM node:20")).toThrow(/line 1: RUN before the first FROM/);
  });
});

describe("instruction arguments", () => {
  it("reads ENV in both forms, quoted values included", () => {
    expect(envPairs('NODE_ENV=production HOST=0.0.0.0 NAME="two words"')).toEqual([
      ["NODE_ENV", "production"],
      ["HOST", "0.0.0.0"],
      ["NAME", "two words"],
    ]);
    expect(envPairs("PATH /usr/bin:/bin")).toEqual([["PATH", "/usr/bin:/bin"]]);
  });

  it("reads COPY with and without --from, and refuses options it does not know", () => {
    expect(copyInstruction("--from=deps /app/node_modules ./node_modules")).toEqual({
      from: "deps",
      sources: ["/app/node_modules"],
      destination: "./node_modules",
    });
    expect(copyInstruction("package.json package-lock.json ./")).toEqual({
      sources: ["package.json", "package-lock.json"],
      destination: "./",
    });
    expect(() => copyInstruction("--chown=node a b")).toThrow(/--chown=node is not supported/);
  });
});

describe("dockerignoreMatcher", () => {
  const ignored = dockerignoreMatcher(
    "**/node_modules\n.git\n**/*.test.ts\n# comment\ndist\n!dist/keep.txt\n",
  );
  it("matches at any depth for **, below a matching directory, and honours exceptions", () => {
    expect(ignored("node_modules")).toBe(true);
    expect(ignored("packages/db/node_modules/pg/index.js")).toBe(true);
    expect(ignored(".git/config")).toBe(true);
    expect(ignored("apps/web/src/a.test.ts")).toBe(true);
    expect(ignored("a.test.ts")).toBe(true);
    expect(ignored("apps/web/src/a.ts")).toBe(false);
    expect(ignored("dist/x.js")).toBe(true);
    expect(ignored("dist/keep.txt")).toBe(false);
    expect(ignored("apps/dist/x.js")).toBe(false);
  });
});

describe("imageFromDockerfile", () => {
  const dir = mkdtempSync(join(tmpdir(), "dockerfile-image-"));
  const build = (text: string) => {
    writeFileSync(join(dir, "Dockerfile"), text);
    return imageFromDockerfile({
      dockerfile: join(dir, "Dockerfile"),
      context: dir,
      name: "rig.apisnoop.local/t:dev",
    });
  };

  it("follows the final stage's instructions into the recipe's config", async () => {
    writeFileSync(join(dir, "app.mjs"), "console.log(1)\n");
    const recipe = await build(
      [
        `FROM node:${process.version.slice(1).split(".").slice(0, 2).join(".")}-bookworm-slim`,
        "ENV NODE_ENV=production",
        "WORKDIR /app",
        "COPY app.mjs ./",
        "RUN mkdir -p /var/lib/x && chown node:node /var/lib/x",
        "USER node",
        "EXPOSE 8443",
        'ENTRYPOINT ["node", "app.mjs"]',
      ].join("\n"),
    );
    expect(recipe.config).toMatchObject({
      workingDir: "/app",
      user: "node",
      entrypoint: ["node", "app.mjs"],
      exposedPorts: ["8443/tcp"],
    });
    expect(recipe.config.env).toContain("NODE_ENV=production");
    const items = recipe.layers.flatMap((layer) => layer.items);
    expect(items).toContainEqual({ kind: "file", from: join(dir, "app.mjs"), to: "/app/app.mjs" });
    expect(items).toContainEqual({ kind: "dir", to: "/var/lib/x", uid: 1000, gid: 1000 });
  });

  it("refuses what it cannot follow, naming the Dockerfile's line", async () => {
    await expect(build("FROM alpine:3\nRUN true")).rejects.toThrow(
      /FROM alpine:3: the rig builds only node:<version> and debian:bookworm bases/,
    );
    const node = `node:${process.version.slice(1).split(".")[0]}`;
    await expect(build(`FROM ${node}\nWORKDIR /app\nRUN apt-get install -y curl`)).rejects.toThrow(
      /Dockerfile:3: RUN apt-get install -y curl: the rig runs only/,
    );
    await expect(build(`FROM ${node}\nCOPY --from=nowhere /a /b`)).rejects.toThrow(
      /Dockerfile:2: .*no stage named nowhere/,
    );
  });

  it("builds a debian:bookworm base from this machine's packages: the redirect init container's image", async () => {
    const recipe = await imageFromDockerfile({
      dockerfile: join(repoRoot, "apps", "webhook", "redirect", "Dockerfile"),
      context: repoRoot,
      name: "rig.apisnoop.local/redirect:dev",
    });
    expect(recipe.config.entrypoint).toEqual(["/usr/local/bin/apisnoop-redirect"]);
    const items = recipe.layers.flatMap((layer) => layer.items);
    const at = (path: string) => items.find((item) => item.to === path);
    // iptables through Debian's alternatives, its libraries by dependency, no documentation, no Node.js.
    expect(at("/usr/sbin/iptables")).toEqual({
      kind: "symlink",
      to: "/usr/sbin/iptables",
      target: "/etc/alternatives/iptables",
    });
    expect(at("/etc/alternatives/iptables")).toMatchObject({ kind: "symlink" });
    expect(at("/usr/sbin/xtables-nft-multi")).toMatchObject({ kind: "file" });
    expect(items.some((item) => /\/libnftnl\.so\.\d+$/.test(item.to))).toBe(true);
    expect(items.some((item) => item.to.startsWith("/usr/share/doc/"))).toBe(false);
    expect(items.some((item) => item.to.endsWith("/bin/node"))).toBe(false);
    expect(at("/usr/local/bin/apisnoop-redirect")).toMatchObject({ kind: "file" });
  });

  it("refuses a package this machine lacks, and commands beside apt-get on a debian base", async () => {
    await expect(
      build(
        "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y --no-install-recommends no-such-package-x",
      ),
    ).rejects.toThrow(/Debian package no-such-package-x is not installed on this machine/);
    await expect(
      build(
        "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y --no-install-recommends iptables && curl x",
      ),
    ).rejects.toThrow(/Dockerfile:2: RUN .*the rig runs only/);
  });

  it("cleans up", () => {
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("npmCi", () => {
  const bin = mkdtempSync(join(tmpdir(), "fake-npm-"));
  const savedPath = process.env.PATH;
  const lines: string[] = [];
  const label = { stage: "deps", imageCwd: "/app" };

  /** An `npm` that hangs ignoring SIGTERM, as npm 11 was seen to, for its first `hangs` runs. */
  function fakeNpm(hangs: number) {
    writeFileSync(join(bin, "runs"), "");
    writeFileSync(
      join(bin, "npm"),
      [
        "#!/bin/sh",
        `echo run >> ${join(bin, "runs")}`,
        `if [ "$(wc -l < ${join(bin, "runs")})" -le ${hangs} ]; then trap '' TERM; while :; do sleep 1; done; fi`,
        'if [ "$1 $2" = "ci --bad" ]; then echo "npm error bad flag" >&2; echo "npm error log: x" >&2; exit 1; fi',
        "mkdir -p node_modules",
      ].join("\n"),
      { mode: 0o755 },
    );
    process.env.PATH = `${bin}:${savedPath}`;
    lines.length = 0;
  }
  const runs = () => readFileSync(join(bin, "runs"), "utf8").split("\n").filter(Boolean).length;

  afterEach(() => {
    process.env.PATH = savedPath;
  });
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  it("kills an npm ci that outlives its bound and runs it once more", () => {
    fakeNpm(1);
    npmCi(["--omit=dev"], bin, label, (line) => lines.push(line), 1_000);
    expect(runs()).toBe(2);
    expect(lines).toContain(
      "image stage deps: npm ci did not finish within 1s; killed, running it once more",
    );
    expect(lines.at(-1)).toMatch(/^image stage deps: npm ci done in \d+s$/);
  });

  it("gives up after a second hang, and says why in one line when npm fails", () => {
    fakeNpm(2);
    expect(() => npmCi([], bin, label, () => undefined, 1_000)).toThrow(
      "image stage deps: npm ci did not finish within 1s, twice",
    );
    fakeNpm(0);
    expect(() => npmCi(["--bad"], bin, label, () => undefined, 5_000)).toThrow(
      "image stage deps: npm ci failed: npm error bad flag",
    );
  });
});
