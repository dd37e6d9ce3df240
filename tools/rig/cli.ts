/**
 * `npm run rig:build|rig:up|rig:down|rig:status` — thin commands over lifecycle.ts.
 * Exit 0 on success (rig:up also when the rig was already up), 1 with a message otherwise.
 */
import { ensureKubeBinaries } from "./kube-bin";
import { rigStatus, startRig, stopRig } from "./lifecycle";

async function main(command: string | undefined, args: string[]): Promise<number> {
  switch (command) {
    case "build": {
      const started = Date.now();
      const bin = ensureKubeBinaries();
      console.log(`rig:build: binaries in ${bin} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
      return 0;
    }
    case "up": {
      const started = Date.now();
      const apiOnly = args.includes("--api-only");
      const {
        state,
        started: didStart,
        startMs,
      } = await startRig("cli", console.log, apiOnly ? { node: false } : {});
      const total = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        didStart
          ? `rig:up: kube-apiserver ${state.kubeVersion} ready at ${state.server}${state.node ? `, node ${state.node.name} Ready` : " (API-only)"} (processes ready in ${(startMs / 1000).toFixed(1)}s, rig:up total ${total}s)`
          : `rig:up: already up at ${state.server}${state.node ? ` with node ${state.node.name}` : " (API-only)"} (pids ${JSON.stringify(state.pids)})`,
      );
      console.log(`rig:up: kubectl --kubeconfig ${state.kubeconfigs.admin} get --raw /readyz`);
      return 0;
    }
    case "down": {
      const stopped = await stopRig();
      console.log(
        stopped.length > 0 ? `rig:down: stopped ${stopped.join(", ")}` : "rig:down: nothing was running",
      );
      return 0;
    }
    case "status": {
      const { state, running } = rigStatus();
      if (!state) {
        console.log("rig:status: down (no .rig/state.json)");
        return 0;
      }
      const parts = Object.entries(running).map(
        ([component, up]) =>
          `${component} pid ${state.pids[component as keyof typeof state.pids]} ${up ? "running" : "NOT running"}`,
      );
      const allUp = Object.values(running).every(Boolean);
      const node = state.node
        ? `node ${state.node.name} in network namespace ${state.node.network.netns}`
        : "API-only";
      console.log(
        `rig:status: ${allUp ? "up" : "DEGRADED"} at ${state.server} (${node}) since ${state.startedAt}; ${parts.join("; ")}`,
      );
      return allUp ? 0 : 1;
    }
    default:
      console.error("usage: tsx tools/rig/cli.ts build|up [--api-only]|down|status");
      return 2;
  }
}

main(process.argv[2], process.argv.slice(3)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
