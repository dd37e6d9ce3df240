import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { reviewAdmission } from "./admission-review";
import type { CaBundlePublisher } from "./ca-bundle";
import type { AdmissionScope, InjectionSettings } from "./pod-injection";

/** How to run the webhook's HTTPS server. */
export interface WebhookServerOptions {
  host: string;
  port: number;
  /** Serving certificate and key (PEM); the MutatingWebhookConfiguration's caBundle must verify it. */
  cert: string;
  key: string;
  settings: InjectionSettings;
  publisher: CaBundlePublisher;
  log?: (line: string) => void;
}

/** A running webhook server. */
export interface RunningWebhookServer {
  /** `https://host:port`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Reads a request body up to the apiserver's own object size limit. */
async function readBody(request: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error("request body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Starts the HTTPS server answering `POST /mutate/namespace` and `POST /mutate/pod` (one path per webhook
 * entry of the chart) and `GET /healthz`. A pod is patched only after its namespace holds the CA bundle,
 * so a failed publish leaves the pod untouched rather than unable to start.
 */
export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningWebhookServer> {
  const log = options.log ?? (() => {});
  const server: Server = createServer({ cert: options.cert, key: options.key }, async (request, response) => {
    const path = new URL(request.url ?? "/", "https://webhook").pathname;
    if (request.method === "GET" && path === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    const scope = path.replace(/^\/mutate\//, "") as AdmissionScope;
    if (request.method !== "POST" || (scope !== "namespace" && scope !== "pod")) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    try {
      const decision = reviewAdmission(JSON.parse(await readBody(request)), scope, options.settings);
      let review = decision.review;
      if (decision.mutatedNamespace) {
        try {
          await options.publisher.ensure(decision.mutatedNamespace);
        } catch (error) {
          log(`CA bundle for namespace ${decision.mutatedNamespace} failed, pod left untouched: ${error}`);
          review = {
            ...review,
            response: {
              uid: review.response.uid,
              allowed: true,
              warnings: ["apisnoop: CA bundle unavailable; pod not routed through the proxy"],
            },
          };
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(review));
    } catch (error) {
      response.writeHead(400, { "content-type": "text/plain" }).end((error as Error).message);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `https://${host}:${port}`,
    port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
