/**
 * The rig the conformance run uses: a kube rig of its own (`.rig/e2e/rig`, or `E2E_RIG_DIR`) with
 * kube-controller-manager. Its own, because the e2e tests create cluster-scoped objects (CRDs, flow
 * schemas, admission policies, namespaces) that would change what other rig tests see (e.g. /openapi/v2)
 * while they run; with kube-controller-manager, because every e2e test waits for its namespace's default
 * ServiceAccount and kube-root-ca.crt, and the quota tests need the resource-quota controller.
 */
import { join } from "node:path";
import { releaseRig, startRig } from "../rig/lifecycle";
import { type RigState, repoRoot } from "../rig/rig";
import { e2eRigDirFromEnv, e2eWorkDirFromEnv, withEnv } from "./env";

/** Where conformance runs keep their rig and outputs (git-ignored, under `.rig/`). */
export function e2eWorkDir(): string {
  return e2eWorkDirFromEnv() ?? join(repoRoot, ".rig", "e2e");
}

/**
 * The e2e rig's RIG_DIR: one with a node (`node-rig`) and one without (`rig`), so an API-only run and a
 * node run never restart each other's cluster.
 */
export function e2eRigDir(node: boolean): string {
  return e2eRigDirFromEnv() ?? join(e2eWorkDir(), node ? "node-rig" : "rig");
}

export interface E2eRig {
  state: RigState;
  /** This run started the rig (it stops again on release unless another run still uses it). */
  started: boolean;
  release(): Promise<void>;
}

const E2E_RIG_ENV = (node: boolean) => ({ RIG_DIR: e2eRigDir(node), RIG_BUILD_KCM: "1", RIG_KCM: undefined });

/**
 * Starts the e2e rig unless it is up, building kube-controller-manager first if missing; `node` asks for
 * a rig with its node (kubelet, containerd, …) for tests that run pods. The rig functions
 * read RIG_DIR on every call, so it is pointed at the e2e rig only while they run and restored after (a
 * vitest worker runs other rig test files in the same process later).
 * @throws Error when the rig is up without kube-controller-manager (started with RIG_KCM=0).
 */
export async function startE2eRig(log: (line: string) => void, node = false): Promise<E2eRig> {
  const restore = withEnv(E2E_RIG_ENV(node));
  try {
    // "global-setup": counted as a user, stopped by the last run out; `rig:up` with this RIG_DIR adopts it.
    const { state, started } = await startRig("global-setup", log, { node });
    if (!state.pids.controllerManager) {
      await releaseRig();
      throw new Error(
        `the e2e rig at ${state.server} runs without kube-controller-manager; stop it (RIG_DIR=${e2eRigDir(node)} npm run rig:down) and retry`,
      );
    }
    return {
      state,
      started,
      release: async () => {
        const restoreAgain = withEnv(E2E_RIG_ENV(node));
        try {
          await releaseRig();
        } finally {
          restoreAgain();
        }
      },
    };
  } finally {
    restore();
  }
}
