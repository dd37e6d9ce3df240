/**
 * An endpoint's stability level (GUIDE §3), decided here for the whole product: the levels, in the
 * order views list them, and how an operation gets one. No imports, so client components can use it
 * (`@apisnoop/openapi/level`).
 */
export const LEVELS = ["stable", "beta", "alpha"] as const;
export type Level = (typeof LEVELS)[number];

/**
 * How far a level is along the way to GA: alpha 0, beta 1, stable 2. A promotion goes up it, a
 * replacement is an operation higher on it.
 */
export const LEVEL_RANK: Readonly<Record<Level, number>> = { alpha: 0, beta: 1, stable: 2 };

/**
 * Operations apisnoop files as `beta` although their paths say nothing about it (GUIDE §3: a
 * compatibility exception kept so counts per level match apisnoop's).
 */
const BETA_BY_EXCEPTION = new Set([
  "getServiceAccountIssuerOpenIDConfiguration",
  "getServiceAccountIssuerOpenIDKeyset",
]);

/** Stability level of an operation: from its path, with apisnoop's exceptions (GUIDE §3). */
export function levelOf(operationId: string, path: string): Level {
  if (BETA_BY_EXCEPTION.has(operationId)) return "beta";
  if (path.includes("alpha")) return "alpha";
  if (path.includes("beta")) return "beta";
  return "stable";
}
