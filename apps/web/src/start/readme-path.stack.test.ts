import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync } from "node:fs";
import { homedir, tmpdir, userInfo } from "node:os";
import path from "node:path";
import { SHARED_K8S, sharedApisnoopCoverage } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../../tools/net/free-port";
import { releaseRig, startRig } from "../../../../tools/rig/lifecycle";
import { readRigState } from "../../../../tools/rig/rig";
import { WEB_DIR } from "../server/dashboard-server";
import { launchBrowser, type TestBrowser } from "../testing/browser";

/**
 * The README's first screen, as a newcomer runs it: a fresh clone in a temporary folder (no ../shared
 * beside it), `npm install`, `npm start` — as root, as CI runs, and again as an ordinary user made for
 * the test — then the page in Chromium. Each start gets a newcomer's environment (PATH, HOME, the
 * settings named here), not the test runner's. The reference data is given as APISNOOP_REFERENCE_DIR,
 * since tests never download; the cluster is the rig's, so the proxy and `apisnoop.kubeconfig` are real.
 * The clone is of this checkout's HEAD: commit what you want it to test.
 */
const REPO = path.resolve(WEB_DIR, "../..");
const MINUTES = 60_000;
const asRoot = userInfo().uid === 0;

/** apisnoop's published upstream e2e coverage of a release: endpoints tested, as the first screen counts. */
const testedUpstream = (release: string) =>
  sharedApisnoopCoverage(release).endpoints.filter((endpoint) => endpoint.tested).length;

/** A newcomer's shell: PATH and HOME, and nothing of the test runner's (NODE_ENV, DATABASE_URL, …). */
function shellEnv(home: string, settings: Record<string, string>): NodeJS.ProcessEnv {
  // Next's types make NODE_ENV required in ProcessEnv; a newcomer's shell has none (npm install would
  // leave devDependencies out with NODE_ENV=production).
  return {
    // The runner's PATH without the node_modules/.bin folders npm and npx put first.
    PATH: (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin")
      .split(path.delimiter)
      .filter((dir) => !dir.includes("node_modules"))
      .join(path.delimiter),
    HOME: home,
    LANG: "C.UTF-8",
    NEXT_TELEMETRY_DISABLED: "1", // as CI sets it
    ...settings,
  } as unknown as NodeJS.ProcessEnv;
}

/** `npm start` in its own process group (Ctrl-C reaches all of it), its output kept. */
class NpmStart {
  output = "";
  private readonly child: ChildProcess;
  private readonly exited: Promise<string>;

  /**
   * `npm start` in `cwd` with exactly `env`; as the user `as` when given. Spawned with that user's ids
   * rather than through runuser or su: they start the command in a session of its own and answer Ctrl-C
   * by signalling npm alone, then SIGKILL, where a terminal signals every process of the foreground group.
   */
  constructor(cwd: string, env: NodeJS.ProcessEnv, as?: { uid: number; gid: number }) {
    this.child = spawn("npm", ["start"], {
      cwd,
      env,
      ...(as ?? {}), // libuv drops root's supplementary groups when it changes ids
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        this.output += chunk;
      });
    }
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => resolve(signal ?? `exit ${code}`)),
    );
  }

  /** The dashboard's URL, once the start banner says it is running. */
  async url(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = /apisnoop is running: (http:\/\/\S+)/.exec(this.output);
      if (found) return found[1] as string;
      if (this.child.exitCode !== null) throw new Error(`npm start exited:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`npm start said nothing of running:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Waits until the start ends by itself (it fails); resolves with `exit N`, or the signal that ended it. */
  async failure(timeoutMs: number): Promise<string> {
    const timer = setTimeout(() => this.stop(), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ctrl-C, as a terminal sends it to the whole process group; resolves with `exit N` or the signal that
   * ended npm (npm ends itself with the SIGINT it got once its script has exited).
   */
  async stop(): Promise<string> {
    if (this.child.exitCode === null && this.child.pid) process.kill(-this.child.pid, "SIGINT");
    const timer = setTimeout(() => this.child.pid && process.kill(-this.child.pid, "SIGKILL"), 60_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Ctrl-C on `started`: apisnoop says it stopped, and nothing it started runs on (embedded PostgreSQL,
 * proxy, Next): no process left whose command line names the clone.
 */
async function expectCleanStop(started: NpmStart, clone: string): Promise<void> {
  // npm ends itself with the SIGINT it got once its script has exited.
  expect(await started.stop()).toMatch(/^(exit 0|exit 130|SIGINT)$/);
  expect(apisnoopLines(started.output).at(-1)).toBe("apisnoop: stopped");
  // By command line (PostgreSQL's data dir, a build) or working directory (`node apps/web/start.ts`).
  const cwdOf = (pid: string) => {
    try {
      return readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      return ""; // gone meanwhile
    }
  };
  const left = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.includes(clone) || cwdOf(line.trim().split(" ")[0] as string).startsWith(clone));
  expect(left).toEqual([]);
}

/** The lines apisnoop itself printed (npm's own banner and error footer left out). */
function apisnoopLines(output: string): string[] {
  return output.split("\n").filter((line) => line.startsWith("apisnoop: "));
}

describe("the README's path: npm install, npm start, the page", () => {
  let work: string;
  let clone: string;
  let home: string;
  let browser: TestBrowser;
  let started: NpmStart | null = null;
  let rigHeld = false;
  let user: string | null = null;
  const npmCache = path.join(homedir(), ".npm"); // the machine's warm cache, as a newcomer's would be
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "safe.directory=*", "-C", clone, ...args], { encoding: "utf8" });

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "apisnoop-readme-"));
    chmodSync(work, 0o755); // the postgres user (as root) and the ordinary user must reach the clone
    clone = path.join(work, "apisnoop");
    home = path.join(work, "home");
    mkdirSync(home);
    const head = execFileSync("git", ["-C", REPO, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    execFileSync("git", ["clone", "--quiet", "--no-checkout", REPO, clone]);
    git("checkout", "--quiet", head);
    browser = await launchBrowser();
  }, 5 * MINUTES);

  afterAll(async () => {
    await started?.stop();
    await browser?.close();
    if (rigHeld) await releaseRig();
    if (work) rmSync(work, { recursive: true, force: true });
    if (user) execFileSync("userdel", [user]);
  }, 5 * MINUTES);

  it(
    "npm install leaves the fresh clone's git status clean",
    () => {
      execFileSync("npm", ["install", "--no-audit", "--no-fund"], {
        cwd: clone,
        env: shellEnv(home, { npm_config_cache: npmCache }),
        stdio: "pipe",
        timeout: 20 * MINUTES,
      });
      expect(git("status", "--porcelain")).toBe("");
    },
    25 * MINUTES,
  );

  it.runIf(asRoot)(
    "as root, an APISNOOP_DATA_DIR postgres cannot reach: one line with the fix",
    async () => {
      const closed = path.join(work, "closed");
      mkdirSync(closed, { mode: 0o700 });
      started = new NpmStart(
        clone,
        shellEnv(home, {
          PORT: String(await freePort()),
          APISNOOP_REFERENCE_DIR: SHARED_K8S,
          APISNOOP_DATA_DIR: path.join(closed, "pgdata"),
        }),
      );
      expect(await started.failure(10 * MINUTES)).toBe("exit 1");
      const lines = apisnoopLines(started.output);
      expect(lines.at(-1)).toMatch(
        new RegExp(
          `^apisnoop: PostgreSQL does not run as root, .* cannot pass through ${closed} .*: chmod o\\+x ${closed}, or set APISNOOP_DATA_DIR to a folder it can reach`,
        ),
      );
      expect(started.output).not.toMatch(/^\s+at /m); // no stack trace
      // Said before the dashboard's first build, not minutes after it.
      expect(started.output).not.toContain("building the dashboard");
      started = null;
    },
    15 * MINUTES,
  );

  it(
    `npm start${asRoot ? " as root" : ""}: upstream coverage, your traffic in one click, compare, report`,
    async () => {
      await startRig("global-setup", () => {});
      rigHeld = true;
      started = new NpmStart(
        clone,
        shellEnv(home, {
          PORT: String(await freePort()),
          APISNOOP_PROXY_LISTEN: `127.0.0.1:${await freePort()}`,
          KUBECONFIG: readRigState().kubeconfigs.admin,
          APISNOOP_REFERENCE_DIR: SHARED_K8S,
        }),
      );
      const url = await started.url(20 * MINUTES);
      const { page, errors } = browser;
      // Every wait of the first start is said before it begins, in the order they come.
      const said = apisnoopLines(started.output);
      const steps = [
        "apisnoop: starting (database, dashboard, proxy)…",
        "apisnoop: database: creating the embedded PostgreSQL in .apisnoop/pgdata (first start only)…",
        "apisnoop: release: asking the cluster of ",
        `apisnoop: release 1.35: reading its spec and apisnoop's e2e coverage from ${SHARED_K8S}…`,
        `apisnoop: release 1.36: reading its spec and apisnoop's e2e coverage from ${SHARED_K8S}…`,
        "apisnoop: building the dashboard (next build, ",
        "apisnoop: dashboard built in ",
      ].map((step) => said.findIndex((line) => line.startsWith(step)));
      expect(Math.min(...steps), said.join("\n")).toBeGreaterThanOrEqual(0);
      expect(steps, said.join("\n")).toEqual([...steps].sort((a, b) => a - b));

      // The first screen: apisnoop's published upstream e2e coverage of the cluster's release (1.34),
      // imported in the background on this first start, without another command.
      await page.goto(url);
      expect(await page.getByTestId("release").textContent()).toBe("1.34");
      await page.waitForFunction(
        (tested) =>
          document.querySelector('[data-testid="figure-all"]')?.textContent?.includes(`${tested} /`),
        testedUpstream("1.34"),
        { timeout: 5 * MINUTES },
      );
      expect(started.output).toContain("upstream e2e: 1.34 imported in");
      // The sunburst is coloured: the arcs of endpoints upstream e2e calls carry their hits.
      expect(
        await page
          .locator('[data-testid="sunburst"] path[data-ring="endpoint"]:not([data-hits="0"])')
          .count(),
      ).toBeGreaterThan(100);

      // The proxy in front of the cluster, as the banner says; kubectl apply also asks for /openapi/v3,
      // which the apiserver serves but its spec does not describe: not an unknown call.
      const kubectl = (...args: string[]) =>
        execFileSync("kubectl", ["--kubeconfig", path.join(clone, "apisnoop.kubeconfig"), ...args], {
          encoding: "utf8",
          input: args.includes("-") ? CONFIGMAP : undefined,
        });
      expect(started.output).toContain("kubectl --kubeconfig apisnoop.kubeconfig get pods -A");
      kubectl("get", "configmaps", "-A");
      kubectl("apply", "-f", "-");

      // Your traffic against upstream e2e's: one click on the first screen.
      await page.getByTestId("source-switch").getByRole("link", { name: "your traffic" }).click();
      await page.waitForURL(/[?&]upstream=none/);
      await page.waitForFunction(
        () => !/^0\.0%/.test(document.querySelector('[data-testid="figure-all"]')?.textContent ?? ""),
        undefined,
        { timeout: 2 * MINUTES },
      );
      // Beside it, what your traffic calls that upstream e2e does not test.
      expect(await page.getByTestId("untested-upstream-count").textContent()).toMatch(/^\d+$/);

      // kubectl apply's /openapi/v3 reads are listed apart, once stored, and not counted as unknown.
      const outsideSpec = page.getByTestId("outside-spec-calls"); // absent while there are none
      for (let attempt = 0; ; attempt++) {
        await page.goto(`${url}/unknown?upstream=none`);
        const listed = (await outsideSpec.count()) > 0 ? await outsideSpec.textContent() : "";
        if (listed?.includes("/openapi/v3")) break;
        if (attempt >= 120) throw new Error(`no /openapi/v3 call on /unknown after 2 minutes: ${listed}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      await page.goto(`${url}/?upstream=none`);
      expect(await page.getByTestId("figure-unknown").textContent()).toBe("0");

      // Two published releases besides the cluster's, so comparing and the report work on the first click.
      await page.goto(`${url}/compare`);
      expect(await page.getByTestId("compare-title").textContent()).toBe("1.34 → 1.35");
      await page.goto(`${url}/report?target=1.36`);
      expect(await page.getByTestId("report-title").textContent()).toBe("Upgrade readiness: 1.34 → 1.36");
      expect(await page.getByTestId("exit-code").textContent()).toMatch(/^[023]$/);
      await page.goto(url);
      await page.screenshot({ path: path.join(WEB_DIR, "screenshots", "readme-path.png") });
      await page.goto("about:blank"); // an open page would try to reconnect once the server stops
      expect(errors).toEqual([]);

      // Local state stays under .apisnoop/ (database, spool); apisnoop.kubeconfig is ignored.
      expect(existsSync(path.join(clone, ".apisnoop", "spool"))).toBe(true);
      expect(git("status", "--porcelain")).toBe("");
      await expectCleanStop(started, clone);
      started = null;
      rigHeld = false;
      await releaseRig();
    },
    30 * MINUTES,
  );

  it.runIf(asRoot)(
    "npm start as an ordinary user, on the same clone",
    async () => {
      user = `apisnoop-t${randomBytes(3).toString("hex")}`;
      execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]);
      const id = (flag: string) => Number(execFileSync("id", [flag, user as string], { encoding: "utf8" }));
      const ordinary = { uid: id("-u"), gid: id("-g") };
      // As if this user had cloned it: the root run's database belongs to postgres, this user makes its own.
      rmSync(path.join(clone, ".apisnoop"), { recursive: true, force: true });
      const userHome = path.join(work, `home-${user}`);
      mkdirSync(userHome);
      execFileSync("chown", ["-R", `${user}:`, clone, userHome]);
      const settings = { APISNOOP_REFERENCE_DIR: SHARED_K8S, APISNOOP_RELEASES: "1.36" };

      // A data dir it may not write: one line with the fix, nothing started.
      const closed = path.join(work, "closed-to-user");
      mkdirSync(closed, { mode: 0o700 });
      started = new NpmStart(
        clone,
        shellEnv(userHome, {
          ...settings,
          PORT: String(await freePort()),
          APISNOOP_DATA_DIR: path.join(closed, "pgdata"),
        }),
        ordinary,
      );
      expect(await started.failure(10 * MINUTES)).toBe("exit 1");
      expect(apisnoopLines(started.output).at(-1)).toMatch(
        /^apisnoop: cannot make the data directory .*: EACCES.*: set APISNOOP_DATA_DIR to a folder you can write/,
      );

      // The default data dir: the first screen shows upstream e2e's coverage of the published release.
      started = new NpmStart(
        clone,
        shellEnv(userHome, { ...settings, PORT: String(await freePort()) }),
        ordinary,
      );
      const url = await started.url(10 * MINUTES);
      browser.errors.length = 0; // the root run\'s page is gone
      await browser.page.goto(url);
      expect(await browser.page.getByTestId("release").textContent()).toBe("1.36");
      await browser.page.waitForFunction(
        (tested) =>
          document.querySelector('[data-testid="figure-all"]')?.textContent?.includes(`${tested} /`),
        testedUpstream("1.36"),
        { timeout: 5 * MINUTES },
      );
      await browser.page.goto("about:blank");
      expect(browser.errors).toEqual([]);
      expect(git("status", "--porcelain")).toBe("");
      await expectCleanStop(started, clone);
      started = null;
    },
    25 * MINUTES,
  );
});

const CONFIGMAP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: readme-path
  namespace: default
data:
  from: the README's path
`;
