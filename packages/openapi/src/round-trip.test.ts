import { describe, expect, it } from "vitest";
import { compileMatcher } from "./matcher";
import { SHARED_RELEASES, sharedCatalog } from "./testing";
import { instantiateTemplate, seededRandom } from "./url-corpus";

/**
 * Every template instantiated with random realistic names matches back to its own operation. No two
 * templates of 1.28–1.36 overlap for such names (names never equal a literal segment here; the literal
 * cases, such as a namespace named "status", are in matcher.test.ts), so no equally-valid alternatives
 * are needed.
 */
describe.each(SHARED_RELEASES)("round trip through the matcher, %s", (release) => {
  const catalog = sharedCatalog(release);
  const matcher = compileMatcher(catalog);

  it("matches every instantiated template back to its operation", () => {
    const random = seededRandom(Number(release.replace(".", "")));
    const wrong: string[] = [];
    for (const endpoint of catalog.byOperationId.values()) {
      for (let i = 0; i < 5; i++) {
        const url = instantiateTemplate(endpoint.path, random);
        const result = matcher.match(endpoint.method, url);
        if (result.operationId !== endpoint.operationId) {
          wrong.push(
            `${endpoint.method} ${url} -> ${result.operationId ?? result.reason} (want ${endpoint.operationId})`,
          );
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
