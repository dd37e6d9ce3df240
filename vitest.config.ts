import { defineConfig } from "vitest/config";

const roots = ["packages/*/src", "apps/*/src", "tools", "charts/*/tests"];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: roots.map((root) => `${root}/**/*.test.ts`),
          exclude: ["**/node_modules/**", "**/*.rig.test.ts", "**/*.node.test.ts", "**/*.stack.test.ts"],
        },
      },
      {
        // `*.rig.test.ts` run against the real kube-apiserver of tools/rig. Vitest calls a project's
        // globalSetup only when one of its files is queued, so unit-only runs never start the rig.
        extends: true,
        test: {
          name: "rig",
          include: roots.map((root) => `${root}/**/*.rig.test.ts`),
          globalSetup: ["tools/rig/global-setup.ts"],
        },
      },
      {
        // `*.node.test.ts` need the rig's node: kubelet and containerd running real pods (root, Linux).
        extends: true,
        test: {
          name: "node",
          include: roots.map((root) => `${root}/**/*.node.test.ts`),
          globalSetup: ["tools/rig/global-setup.ts"],
          // Pods start in seconds, images import in tens of seconds on a busy machine.
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
      {
        // `*.stack.test.ts` drive the dashboard's production build (made once per source change by the
        // global setup) on a real PostgreSQL, some through Chromium.
        extends: true,
        test: {
          name: "stack",
          include: ["apps/web/src/**/*.stack.test.ts"],
          globalSetup: ["apps/web/src/testing/global-setup.ts"],
        },
      },
    ],
  },
});
