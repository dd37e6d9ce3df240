/**
 * An image recipe from one of the project's Dockerfiles, so the rig runs what users build with Docker,
 * without a Docker engine: the final stage's base is this machine's Node.js (base-layers.ts), its COPY,
 * WORKDIR, ENV, USER, EXPOSE, ENTRYPOINT and CMD are followed as written, and the stages it copies from
 * are made here:
 *
 * - a stage that copies manifests and runs `npm ci …` (the production dependencies) runs that `npm ci` in
 *   a staging directory, cached by its inputs; `npm cache clean --force`, a layer-size idiom, is skipped
 *   (it would empty this machine's shared npm cache);
 * - a stage that copies the whole context and runs `npm ci && npm run <script>` is the checkout itself,
 *   installed (`npm ci` done) and built: the script runs in the checkout (or a builder given for it, such
 *   as the web app's Next build, which runs once per change of its sources).
 *
 * Anything else (another base, another RUN) is refused with the Dockerfile's line, so a change to a
 * Dockerfile is either followed or reported, never silently dropped.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { busyboxLayer, debianPackagesLayer, IMAGE_USERS, nodeRuntimeLayer, systemLayer } from "./base-layers";
import {
  commandWords,
  copyInstruction,
  type DockerInstruction,
  type DockerStage,
  dockerignoreMatcher,
  envPairs,
  inWorkdir,
  parseDockerfile,
} from "./dockerfile";
import { imageCacheDir } from "./env";
import type { ImageRecipe, LayerItem } from "./oci-image";

/** What stands for an `npm run …` of a checkout stage (the web app's build: its cached Next build). */
export type ScriptBuilder = (log: (line: string) => void) => Promise<void>;

export interface DockerfileImageOptions {
  /** Path of the Dockerfile; `<Dockerfile>.dockerignore` or the context's `.dockerignore` applies. */
  dockerfile: string;
  /** The build context (the repository root). */
  context: string;
  /** The image's name, `rig.apisnoop.local/<name>:<tag>`. */
  name: string;
  /**
   * Builders for a checkout stage's `npm run` commands, by what follows `npm run ` (`build
   * --workspace=@apisnoop/web`); a command without one runs as written in the checkout.
   */
  builders?: Record<string, ScriptBuilder>;
  log?: (line: string) => void;
}

/** Where a stage's files are on this host: a root directory standing for the stage's `/`, and what to leave out. */
interface StageFiles {
  /** Host path of a path in the stage. */
  hostPath(stagePath: string): string;
  skip(stagePath: string): boolean;
}

const fail = (dockerfile: string, instruction: DockerInstruction, why: string): never => {
  throw new Error(`${dockerfile}:${instruction.line}: ${instruction.keyword} ${instruction.args}: ${why}`);
};

/**
 * The base an image builds on, as this machine can stand in for it: `node:<version>[-…]` when this
 * machine's Node.js has that version (`20.20-bookworm-slim` ~ v20.20.x), or `debian:bookworm[-slim]` when
 * this machine is Debian 12. Both get busybox as their shell and core utilities.
 */
function baseOf(dockerfile: string, from: string): "node" | "debian" {
  const tag = /^node:(\d+(?:\.\d+){0,2})(?:-|$)/.exec(from)?.[1];
  if (tag) {
    const running = process.version.slice(1);
    if (running !== tag && !running.startsWith(`${tag}.`)) {
      throw new Error(
        `${dockerfile}: FROM ${from}: this machine runs Node.js ${process.version}, not ${tag}`,
      );
    }
    return "node";
  }
  if (/^debian:bookworm(-slim)?$/.test(from)) {
    const version = existsSync("/etc/debian_version")
      ? readFileSync("/etc/debian_version", "utf8").trim()
      : "";
    if (!version.startsWith("12.")) {
      throw new Error(
        `${dockerfile}: FROM ${from}: this machine is not Debian 12 (bookworm) but '${version}'`,
      );
    }
    return "debian";
  }
  throw new Error(
    `${dockerfile}: FROM ${from}: the rig builds only node:<version> and debian:bookworm bases`,
  );
}

/** `apt-get update && apt-get install -y --no-install-recommends P… [&& rm -rf /var/lib/apt/lists/*]`. */
function aptPackagesOf(run: string): string[] | null {
  const commands = run.split("&&").map((part) => part.trim());
  if (commands[0] !== "apt-get update") return null;
  const install = /^apt-get install (.+)$/.exec(commands[1] ?? "")?.[1]?.split(/\s+/);
  if (!install?.includes("-y") || !install.includes("--no-install-recommends")) return null;
  if (commands.slice(2).some((command) => command !== "rm -rf /var/lib/apt/lists/*")) return null;
  return install.filter((word) => !word.startsWith("-"));
}

/** `uid` of an /etc/passwd name or number (`node`, `1000`). */
function uidOf(user: string): number {
  if (/^\d+$/.test(user)) return Number(user);
  const known = IMAGE_USERS.find((u) => u.name === user);
  if (!known) throw new Error(`user ${user} is not in the rig images' /etc/passwd`);
  return known.uid;
}

/** Files under `dir` (relative, `/`-separated) that `skip` keeps, with size and mtime, for cache keys. */
function fingerprint(
  dir: string,
  skip: (relative: string) => boolean,
  hash = createHash("sha256"),
  prefix = "",
) {
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) {
    hash.update(`${prefix}\0${stat.size}\0${stat.mtimeMs}\0`);
    return hash;
  }
  for (const name of readdirSync(dir).sort()) {
    const relative = prefix ? `${prefix}/${name}` : name;
    if (skip(relative)) continue;
    fingerprint(join(dir, name), skip, hash, relative);
  }
  return hash;
}

/** The COPY of `sources` from `files` to `destination` (in a stage with `workdir`), as layer items. */
function copyItems(
  sources: string[],
  destination: string,
  workdir: string,
  files: StageFiles,
  uid?: number,
): LayerItem[] {
  const to = inWorkdir(workdir, destination);
  const intoDirectory = destination.endsWith("/") || sources.length > 1;
  return sources.map((source): LayerItem => {
    const stagePath = posix.resolve("/", source);
    const host = files.hostPath(stagePath);
    if (!existsSync(host)) throw new Error(`COPY ${source}: ${host} does not exist`);
    if (statSync(host).isDirectory()) {
      return {
        kind: "tree",
        from: host,
        to,
        skip: (relative) => files.skip(posix.join(stagePath, relative)),
        ...(uid !== undefined && { uid, gid: uid }),
      };
    }
    return {
      kind: "file",
      from: host,
      to: intoDirectory ? posix.join(to, basename(source)) : to,
      ...(uid !== undefined && { uid, gid: uid }),
    };
  });
}

/** `mkdir -p A B && chown user:group A B` — the one shell RUN a final stage may have. */
function directoriesOf(run: string): { dirs: string[]; uid: number } | null {
  const match = /^mkdir -p ((?:\/\S+\s*)+)&& chown (\w+)(?::\w+)? ((?:\/\S+\s*)+)$/.exec(run.trim());
  if (!match) return null;
  const made = (match[1] ?? "").trim().split(/\s+/);
  const owned = (match[3] ?? "").trim().split(/\s+/);
  if (made.join(" ") !== owned.join(" ")) return null;
  return { dirs: made, uid: uidOf(match[2] ?? "") };
}

/**
 * Runs an npm-ci stage in a staging directory (cached by its inputs) and returns its files.
 * The stage's COPYs are from the context; its RUN is `npm ci <flags>` [&& `npm cache clean --force`].
 */
function npmCiStage(
  dockerfile: string,
  stage: DockerStage,
  context: string,
  ignored: (relative: string) => boolean,
  log: (line: string) => void,
): StageFiles {
  let workdir = "/";
  const copies: Array<{ sources: string[]; destination: string; workdir: string }> = [];
  const runs: string[] = [];
  for (const instruction of stage.instructions) {
    if (instruction.keyword === "WORKDIR") workdir = inWorkdir(workdir, instruction.args);
    else if (instruction.keyword === "COPY") {
      const copy = copyInstruction(instruction.args);
      if (copy.from) fail(dockerfile, instruction, "a dependency stage copies from the context only");
      copies.push({ ...copy, workdir });
    } else if (instruction.keyword === "RUN") {
      for (const command of instruction.args.split("&&").map((part) => part.trim())) {
        if (command === "npm cache clean --force") continue;
        if (!/^npm ci(\s|$)/.test(command))
          fail(dockerfile, instruction, `the rig runs only npm ci here, not '${command}'`);
        runs.push(`${command} ${workdir}`);
      }
    } else if (instruction.keyword !== "ENV") {
      fail(dockerfile, instruction, "not supported in a dependency stage");
    }
  }
  const contextFiles: StageFiles = {
    hostPath: (path) => join(context, path),
    skip: (path) => ignored(path.replace(/^\/+/, "")),
  };
  const hash = createHash("sha256").update(JSON.stringify({ copies, runs }));
  for (const copy of copies) {
    for (const source of copy.sources) {
      hash.update(`\0${source}\0`);
      fingerprint(join(context, source), (relative) => ignored(posix.join(source, relative)), hash);
    }
  }
  const key = hash.digest("hex").slice(0, 24);
  // Named after the Dockerfile's directory and the stage (`proxy-deps-…`): pruning keeps the newest of each.
  const label = `${basename(dirname(dockerfile))}-${stage.name ?? "stage"}`;
  const root = join(imageCacheDir(), "stages", `${label}-${key}`);
  const files: StageFiles = { hostPath: (path) => join(root, path), skip: () => false };
  if (existsSync(root)) {
    // In use: pruning keeps the newest stage of each name.
    const now = new Date();
    utimesSync(root, now, now);
    return files;
  }

  const temporary = `${root}.${process.pid}.tmp`;
  rmSync(temporary, { recursive: true, force: true });
  for (const copy of copies) {
    for (const item of copyItems(copy.sources, copy.destination, copy.workdir, contextFiles)) {
      const target = join(temporary, item.to);
      mkdirSync(item.kind === "file" ? posix.dirname(target) : target, { recursive: true });
      if (item.kind === "tree") {
        execFileSync("cp", ["-a", "--", `${item.from}/.`, target]);
        // The context's ignored files came along with `cp -a`: remove them again.
        removeIgnored(target, item.skip ?? (() => false));
      } else if (item.kind === "file" && item.from) {
        execFileSync("cp", ["-a", "--", item.from, target]);
      }
    }
  }
  try {
    for (const run of runs) {
      const [, flags = "", cwd = "/"] = /^npm ci(.*) (\/\S*)$/.exec(run) ?? [];
      npmCi(
        flags.trim().split(/\s+/).filter(Boolean),
        join(temporary, cwd),
        { stage: stage.name ?? "", imageCwd: cwd },
        log,
      );
    }
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
  renameSync(temporary, root);
  return files;
}

/**
 * How long one `npm ci` of a dependency stage may take: 30–50 s on this machine under load. npm 11 was
 * seen hanging for good after its last fetch (idle, ignoring SIGTERM), which would hold a test run until
 * its own timeout; past this bound it is killed and run once more.
 */
export const NPM_CI_TIMEOUT_MS = 300_000;

/**
 * `npm ci <flags>` in `cwd` (the stage's `imageCwd`), offline first; killed and run once more when it
 * outlives `timeoutMs`.
 * @throws Error with npm's stderr when it fails, or saying it timed out twice.
 */
export function npmCi(
  flags: string[],
  cwd: string,
  label: { stage: string; imageCwd: string },
  log: (line: string) => void,
  timeoutMs: number = NPM_CI_TIMEOUT_MS,
): void {
  const what = `image stage ${label.stage}: npm ci`;
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    log(`${what}${flags.map((flag) => ` ${flag}`).join("")} (in ${label.imageCwd})`);
    try {
      execFileSync("npm", ["ci", ...flags, "--prefer-offline", "--no-audit", "--no-fund"], {
        cwd,
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, npm_config_update_notifier: "false" },
        timeout: timeoutMs,
        killSignal: "SIGKILL",
      });
      log(`${what} done in ${((Date.now() - started) / 1000).toFixed(0)}s`);
      return;
    } catch (error) {
      const limit = `${timeoutMs / 1000}s`;
      if ((error as NodeJS.ErrnoException).code !== "ETIMEDOUT") {
        const stderr = String((error as { stderr?: Buffer }).stderr ?? "").trim();
        throw new Error(`${what} failed: ${stderr.split("\n")[0] || (error as Error).message}`);
      }
      if (attempt >= 2) throw new Error(`${what} did not finish within ${limit}, twice`);
      log(`${what} did not finish within ${limit}; killed, running it once more`);
    }
  }
}

/** Removes what `skip` names under `dir` (relative paths). */
function removeIgnored(dir: string, skip: (relative: string) => boolean, prefix = ""): void {
  for (const name of readdirSync(dir)) {
    const relative = prefix ? `${prefix}/${name}` : name;
    const path = join(dir, name);
    if (skip(relative)) rmSync(path, { recursive: true, force: true });
    else if (lstatSync(path).isDirectory()) removeIgnored(path, skip, relative);
  }
}

/**
 * A checkout stage (`COPY . .`, `RUN npm ci && npm run <script>`): the checkout, whose node_modules must be
 * installed, with each script run (or its builder). What .dockerignore keeps out of the context stays out,
 * except what the stage's own commands make (node_modules, the build output .next).
 */
async function checkoutStage(
  dockerfile: string,
  stage: DockerStage,
  context: string,
  ignored: (relative: string) => boolean,
  builders: Record<string, ScriptBuilder>,
  log: (line: string) => void,
): Promise<StageFiles> {
  let workdir = "/";
  for (const instruction of stage.instructions) {
    if (instruction.keyword === "WORKDIR") workdir = inWorkdir(workdir, instruction.args);
    else if (instruction.keyword === "COPY") {
      const copy = copyInstruction(instruction.args);
      if (copy.from || copy.sources.join(" ") !== "." || copy.destination !== ".") {
        fail(dockerfile, instruction, "a build stage must copy the whole context (COPY . .)");
      }
    } else if (instruction.keyword === "RUN") {
      for (const command of instruction.args.split("&&").map((part) => part.trim())) {
        if (/^npm ci(\s|$)/.test(command) && !command.includes("--omit")) {
          if (!existsSync(join(context, "node_modules"))) {
            throw new Error(`${dockerfile}:${instruction.line}: run \`npm ci\` in ${context} first`);
          }
          continue;
        }
        const script = /^npm run (\S+(?: --workspace=\S+)?)$/.exec(command)?.[1];
        if (!script)
          fail(dockerfile, instruction, `the rig knows no way to run '${command}' in the checkout`);
        const builder = builders[script as string];
        if (builder) {
          await builder(log);
          continue;
        }
        const started = Date.now();
        try {
          execFileSync("npm", ["run", ...(script as string).split(" ")], {
            cwd: context,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
          });
        } catch (error) {
          const output = `${(error as { stdout?: string }).stdout ?? ""}${(error as { stderr?: string }).stderr ?? ""}`;
          throw new Error(
            `${dockerfile}:${instruction.line}: ${command} failed:\n${output.split("\n").slice(-20).join("\n")}`,
          );
        }
        log(`image build stage: ${command} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      }
    } else if (instruction.keyword !== "ENV") {
      fail(dockerfile, instruction, "not supported in a build stage");
    }
  }
  const made = /(^|\/)(node_modules|\.next)(\/|$)/;
  return {
    hostPath: (path) => join(context, posix.relative(workdir, path)),
    skip: (path) => {
      const relative = posix.relative(workdir, path);
      return ignored(relative) && !made.test(relative);
    },
  };
}

/**
 * The recipe of the image `options.dockerfile` describes (its last stage), with the stages it copies from
 * built as described above.
 * @throws Error naming the Dockerfile line the rig cannot follow.
 */
export async function imageFromDockerfile(options: DockerfileImageOptions): Promise<ImageRecipe> {
  const { dockerfile, context } = options;
  const log = options.log ?? (() => {});
  const stages = parseDockerfile(readFileSync(dockerfile, "utf8"));
  const final = stages.at(-1);
  if (!final) throw new Error(`${dockerfile}: no FROM`);
  const base = baseOf(dockerfile, final.from);
  const ignoreFile = [`${dockerfile}.dockerignore`, join(context, ".dockerignore")].find(existsSync);
  const ignored = dockerignoreMatcher(ignoreFile ? readFileSync(ignoreFile, "utf8") : "");
  const contextFiles: StageFiles = {
    hostPath: (path) => join(context, path),
    skip: (path) => ignored(path.replace(/^\/+/, "")),
  };

  const stageFiles = new Map<string, StageFiles>();
  const filesOf = async (name: string, instruction: DockerInstruction): Promise<StageFiles> => {
    const known = stageFiles.get(name);
    if (known) return known;
    const stage = stages.find((candidate) => candidate.name === name);
    if (!stage) return fail(dockerfile, instruction, `no stage named ${name}`);
    if (baseOf(dockerfile, stage.from) !== "node")
      fail(dockerfile, instruction, "a build stage needs a node base");
    const wholeContext = stage.instructions.some(
      (i) => i.keyword === "COPY" && /^\.\s+\.$/.test(i.args.trim()),
    );
    const files = wholeContext
      ? await checkoutStage(dockerfile, stage, context, ignored, options.builders ?? {}, log)
      : npmCiStage(dockerfile, stage, context, ignored, log);
    stageFiles.set(name, files);
    return files;
  };

  let workdir = "/";
  const env = new Map<string, string>([["PATH", "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]]);
  let user: string | undefined;
  let entrypoint: string[] | undefined;
  let cmd: string[] | undefined;
  const exposed: string[] = [];
  const layers: ImageRecipe["layers"] =
    base === "node" ? [systemLayer(), busyboxLayer(), nodeRuntimeLayer()] : [systemLayer(), busyboxLayer()];
  for (const instruction of final.instructions) {
    switch (instruction.keyword) {
      case "WORKDIR":
        workdir = inWorkdir(workdir, instruction.args);
        layers.push({ name: `workdir-${workdir}`, items: [{ kind: "dir", to: workdir }] });
        break;
      case "ENV":
        for (const [key, value] of envPairs(instruction.args)) env.set(key, value);
        break;
      case "USER":
        user = instruction.args;
        uidOf(user.split(":")[0] ?? "");
        break;
      case "EXPOSE":
        exposed.push(
          ...instruction.args.split(/\s+/).map((port) => (port.includes("/") ? port : `${port}/tcp`)),
        );
        break;
      case "ENTRYPOINT":
        entrypoint = commandWords(instruction.args);
        break;
      case "CMD":
        cmd = commandWords(instruction.args);
        break;
      case "COPY": {
        const copy = copyInstruction(instruction.args);
        const files = copy.from ? await filesOf(copy.from, instruction) : contextFiles;
        layers.push({
          name: `copy-${copy.from ?? "context"}-${copy.sources.join("+")}`,
          items: copyItems(copy.sources, copy.destination, workdir, files),
        });
        break;
      }
      case "RUN": {
        const packages = base === "debian" ? aptPackagesOf(instruction.args) : null;
        if (packages) {
          layers.push(debianPackagesLayer(packages));
          break;
        }
        const made = directoriesOf(instruction.args);
        if (!made) {
          fail(
            dockerfile,
            instruction,
            "the rig runs only `mkdir -p DIR && chown USER DIR` in a final stage, and on a debian base `apt-get update && apt-get install -y --no-install-recommends PACKAGES`",
          );
        }
        const { dirs, uid } = made as { dirs: string[]; uid: number };
        layers.push({
          name: `dirs-${dirs.join("+")}`,
          items: dirs.map((dir): LayerItem => ({ kind: "dir", to: dir, uid, gid: uid })),
        });
        break;
      }
      default:
        fail(dockerfile, instruction, "not supported by the rig's image builder");
    }
  }
  return {
    name: options.name,
    layers,
    config: {
      env: [...env].map(([key, value]) => `${key}=${value}`),
      workingDir: workdir,
      ...(user && { user }),
      ...(entrypoint && { entrypoint }),
      ...(cmd && { cmd }),
      ...(exposed.length > 0 && { exposedPorts: exposed }),
    },
  };
}
