import type { DashboardData } from "../data/dashboard-data";

/**
 * The bridge from the custom server to Next's route handlers and server components: server.ts registers
 * the data layer once; pages and handlers look it up. A global symbol because Next bundles pages
 * separately from server.ts, and the two must share one database client, not load two.
 */
const KEY = Symbol.for("apisnoop.web.dashboardData");

type Registry = typeof globalThis & { [KEY]?: DashboardData };

/** Makes `data` what every page and API route reads. Called by the custom server before it listens. */
export function provideDashboardData(data: DashboardData): void {
  (globalThis as Registry)[KEY] = data;
}

/** The data layer registered by the custom server; throws when the app runs without it (`next start`). */
export function dashboardData(): DashboardData {
  const data = (globalThis as Registry)[KEY];
  if (!data) throw new Error("no data layer: start the dashboard with apps/web/server.ts, not `next start`");
  return data;
}
