import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * Who may view the dashboard when it is reachable by others: one user name and password, checked as HTTP
 * basic auth (browsers, `curl -u`), the password also accepted as a bearer token (API clients, scripts).
 * Without credentials the dashboard is open: fine on loopback, or behind a proxy that authenticates
 * (oauth2-proxy, an ingress's external auth).
 */
export interface ViewerCredentials {
  user: string;
  password: string;
}

/** Paths answered without credentials: the readiness probe. (The ingest checks its own token.) */
export const HEALTH_PATH = "/healthz";

/**
 * Whether a request may see the dashboard: always without credentials, else when its Authorization header
 * carries them. Constant-time over the secret, so it cannot be guessed byte by byte from timings.
 */
export function viewerCheck(credentials: ViewerCredentials | null): (request: IncomingMessage) => boolean {
  if (!credentials) return () => true;
  const basic = Buffer.from(`${credentials.user}:${credentials.password}`);
  const bearer = Buffer.from(credentials.password);
  return (request) => {
    const header = request.headers.authorization;
    if (!header) return false;
    const space = header.indexOf(" ");
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (scheme === "basic") return equal(Buffer.from(value, "base64"), basic);
    if (scheme === "bearer") return equal(Buffer.from(value), bearer);
    return false;
  };
}

/** 401 with the challenge that makes a browser ask for the user name and password. */
export function challengeViewer(response: ServerResponse): void {
  response
    .writeHead(401, {
      "www-authenticate": 'Basic realm="apisnoop", charset="UTF-8"',
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
    })
    .end("sign in to see this dashboard\n");
}

function equal(given: Buffer, expected: Buffer): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected);
}
