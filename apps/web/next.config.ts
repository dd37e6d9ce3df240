import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  devIndicators: false,
  // The workspace packages are TypeScript sources (their `exports` point at src/*.ts).
  transpilePackages: ["@apisnoop/protocol", "@apisnoop/db"],
  // The root `npm run typecheck` checks this app (tsc -p apps/web); a second check in `next build` would
  // only cost CI time on two cores.
  typescript: { ignoreBuildErrors: true },
  // npm workspaces hoist dependencies to the repository root.
  turbopack: { root },
  outputFileTracingRoot: root,
  // Browsers still ask for /favicon.ico now and then despite the page's icon link (a new profile's
  // first page, a page restored from history): a 404 there is a console error on whatever page is open.
  async rewrites() {
    return [{ source: "/favicon.ico", destination: "/icon.svg" }];
  },
};

export default config;
