import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts", "tools/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Starts the kube rig (tools/rig) unless it is already up; RIG_SKIP=1 skips it.
    globalSetup: ["tools/rig/global-setup.ts"],
  },
});
