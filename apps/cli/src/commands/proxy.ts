import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import {
  caFingerprint,
  DEFAULT_CA_DIR,
  DEFAULT_LIMITS,
  installLastResort,
  parseAllowTunnel,
  parseListenAddress,
  type RunningProxy,
  startProxy,
} from "@apisnoop/proxy";
import { CliError } from "../cli-error";
import type { Command, CommandIO } from "../command";
import { type CliEnv, readEnv } from "../env";
import { parseOptions } from "../parse-options";

const OPTIONS = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
  listen: { type: "string", default: "127.0.0.1:8443" },
  "admin-listen": { type: "string", default: "127.0.0.1:8444" },
  spec: { type: "string", default: "live" },
  "spec-refresh": { type: "string", default: "600" },
  out: { type: "string" },
  "ca-dir": { type: "string" },
  "ingest-url": { type: "string" },
  "ingest-token-file": { type: "string" },
  "spool-dir": { type: "string" },
  "spool-max-mib": { type: "string", default: "256" },
  "proxy-id": { type: "string" },
  pods: { type: "string", default: "auto" },
  "body-cap": { type: "string", default: String(2 * 1024 * 1024) },
  "response-samples": { type: "string", default: "20" },
  "allow-tunnel": { type: "string", multiple: true },
  "tls-name": { type: "string", multiple: true },
  "max-connections": { type: "string", default: String(DEFAULT_LIMITS.maxConnections) },
  "max-requests-in-flight": { type: "string", default: String(DEFAULT_LIMITS.maxRequestsInFlight) },
  "max-requests-in-flight-per-address": {
    type: "string",
    default: String(DEFAULT_LIMITS.maxRequestsInFlightPerAddress),
  },
  "handshakes-per-address": { type: "string", default: String(DEFAULT_LIMITS.handshakesPerAddress) },
  "handshake-rate-per-address": {
    type: "string",
    default: String(DEFAULT_LIMITS.handshakeRatePerAddress),
  },
  "drain-seconds": { type: "string", default: "25" },
  cluster: { type: "string" },
  run: { type: "string" },
} as const;

/** Where unacknowledged batches wait unless `--spool-dir` says otherwise. */
const DEFAULT_SPOOL_DIR = path.join(homedir(), ".apisnoop", "spool");

/** The ingest token: from a file (a mounted Secret) or APISNOOP_INGEST_TOKEN, never from a flag (ps shows flags). */
function ingestToken(file: string | undefined, env: CliEnv): string | null {
  if (file) {
    try {
      return readFileSync(file, "utf8").trim();
    } catch (error) {
      throw new CliError(`--ingest-token-file: ${(error as Error).message}`, 2);
    }
  }
  return env.APISNOOP_INGEST_TOKEN ?? null;
}

/** Parses a host:port option into a usage error when malformed. */
function listenOption(name: string, value: string) {
  try {
    return parseListenAddress(value);
  } catch (error) {
    throw new CliError(`--${name}: ${(error as Error).message}`, 2);
  }
}

/**
 * What the user needs to point clients at the proxy: the exact `apisnoop kubeconfig` commands, with the
 * kubeconfig, context and CA this proxy runs with (a client that trusts another CA gets "x509:
 * certificate signed by unknown authority").
 */
export function proxyBanner(
  proxy: RunningProxy,
  values: {
    kubeconfig?: string;
    context?: string;
    out?: string;
    caDir: string;
    ingestUrl?: string | null;
  },
): string {
  const from = values.kubeconfig ?? "~/.kube/config";
  const kubeconfig = [
    "apisnoop kubeconfig",
    `--from ${shellWord(from)}`,
    values.context ? `--context ${shellWord(values.context)}` : null,
    `--proxy ${proxy.url}`,
    `--ca-dir ${shellWord(path.resolve(values.caDir))}`,
  ]
    .filter(Boolean)
    .join(" ");
  return [
    `apisnoop proxy: listening on ${proxy.url} (reverse and forward), upstream ${proxy.upstream.server}`,
    `  hits counted under cluster ${proxy.place.cluster}${proxy.place.run ? `, run ${proxy.place.run}` : ""}`,
    proxy.adminUrl ? `  admin: ${proxy.adminUrl}/healthz, ${proxy.adminUrl}/metrics` : null,
    values.out
      ? `  hits: appended to ${path.resolve(values.out)}`
      : values.ingestUrl
        ? null
        : "  hits: not recorded (add --out hits.jsonl, or --ingest-url with APISNOOP_INGEST_TOKEN)",
    values.ingestUrl
      ? `  dashboard: hits delivered to ${values.ingestUrl} (spooled until acknowledged)`
      : null,
    `  CA: ${path.join(path.resolve(values.caDir), "certs", "ca.pem")} (SHA-256 ${caFingerprint(proxy.ca.certificatePem)})`,
    "Point clients at it:",
    `  reverse: ${kubeconfig} --output proxied.yaml`,
    `  forward: ${kubeconfig} --mode forward --output proxied.yaml`,
    proxy.adminUrl
      ? `  (where ${path.resolve(values.caDir)} cannot be read: --ca-from ${proxy.adminUrl} instead of --ca-dir)`
      : null,
    "  then: kubectl --kubeconfig proxied.yaml get pods",
  ]
    .filter((line) => line !== null)
    .join("\n");
}

/** A word as a POSIX shell reads it: as is when plain, else single-quoted. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./~-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Resolves on the next SIGINT or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** A cluster or run name: 1 to 253 printable characters, or a usage error naming the option. */
function nameOption(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^[\x21-\x7e](?:[\x20-\x7e]{0,251}[\x21-\x7e])?$/.test(trimmed)) {
    throw new CliError(`--${name} must be 1 to 253 printable ASCII characters, not '${value}'`, 2);
  }
  return trimmed;
}

/** A whole number option of at least `min`, or a usage error naming it. */
function countOption(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(`--${name} must be a whole number >= ${min}, not '${value}'`, 2);
  return n;
}

export const proxyCommand: Command = {
  name: "proxy",
  help: `Usage: apisnoop proxy [--kubeconfig FILE] [--context NAME] [--listen HOST:PORT] [--admin-listen HOST:PORT|none]
                      [--spec live|FILE|URL] [--out hits.jsonl] [--ca-dir DIR]
                      [--ingest-url URL] [--ingest-token-file FILE] [--spool-dir DIR] [--spool-max-mib N]
                      [--proxy-id ID] [--pods auto|informer|off] [--body-cap BYTES] [--response-samples N]
                      [--allow-tunnel HOST:PORT]... [--tls-name NAME]... [--max-connections N]
                      [--max-requests-in-flight N] [--max-requests-in-flight-per-address N]
                      [--handshakes-per-address N] [--handshake-rate-per-address N]
                      [--drain-seconds N] [--cluster NAME] [--run ID]

Forwards every request to the cluster of the kubeconfig context (or, without a kubeconfig, the in-cluster
apiserver of the pod's service account), streaming both ways, and matches each call to its endpoint
(operationId) in the cluster's OpenAPI spec. One port serves both ways in: TLS from clients whose server
is the proxy (reverse) and CONNECT from clients whose proxy-url is the proxy (forward); see
'apisnoop kubeconfig'. Bearer tokens pass through to the apiserver. If the kubeconfig has a client
certificate, the proxy presents it upstream for clients that bring no token (the local single-user case);
in a cluster, clients authenticate with service-account bearer tokens, which pass through untouched.

Options:
  --kubeconfig FILE        upstream cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  --context NAME           kubeconfig context (default: the current context)
  --listen HOST:PORT       proxy port, both modes (default: 127.0.0.1:8443)
  --admin-listen HOST:PORT /healthz and /metrics, or 'none' (default: 127.0.0.1:8444)
  --spec live|FILE|URL     spec to match against (default: live, the upstream's /openapi/v2, reloaded
                           when CustomResourceDefinitions change and every --spec-refresh seconds)
  --spec-refresh SECONDS   periodic reload of a live spec, 0 for none (default: 600)
  --out FILE               append one JSON line per request: {"ts","method","path","query","status",
                           "durationMs","operationId","reason"?,"userAgent","source"?,"details"?,
                           "requestFields"?,"responseFields"?}; no header but the user agent and
                           X-Apisnoop-Source and X-Apisnoop-Run, no body value, ever
  --ca-dir DIR             the proxy's CA, created once with its key 0600 (default: ${DEFAULT_CA_DIR})
  --ingest-url URL         deliver hits to the dashboard at URL (default: $APISNOOP_INGEST_URL); the
                           token comes from $APISNOOP_INGEST_TOKEN or --ingest-token-file
  --spool-dir DIR          batches not yet acknowledged, fsync'd, replayed in order after a restart or
                           an outage (default: ${DEFAULT_SPOOL_DIR}); one proxy per directory
  --spool-max-mib N        the spool takes no more batches past N MiB; rollups then wait in memory,
                           bounded (per hour, then per day, then counted drops) (default: 256)
  --proxy-id ID            names this proxy to the dashboard (default: the host name)
  --pods auto|informer|off attribute hits to the pod behind each client address with a pod informer
                           (needs list and watch on pods); auto: on when running in a cluster without
                           --kubeconfig, and off with a log line if pods cannot be listed (default: auto)
  --body-cap BYTES         bodies larger than this are counted but their fields not analysed; 0 turns
                           field analysis off (default: 2097152)
  --response-samples N     response bodies whose fields are read per endpoint and source each minute;
                           request bodies are always read; 0 reads every response (default: 20)
  --allow-tunnel HOST:PORT pass CONNECTs to HOST:PORT through untouched (repeatable). Without it, only
                           CONNECTs to the Kubernetes API are served (decrypted and recorded); every
                           other CONNECT and every absolute-form request is refused with 403
  --tls-name NAME          another name clients reach the proxy by (repeatable; e.g. its Service name):
                           added to its certificate and to its CA's name constraints
  --max-connections N      client connections held at once; more are closed at once and counted
                           (default: ${DEFAULT_LIMITS.maxConnections})
  --max-requests-in-flight N
                           requests relayed at once, watches included; more are answered 429
                           and counted (default: ${DEFAULT_LIMITS.maxRequestsInFlight})
  --max-requests-in-flight-per-address N
                           each client address's share of them (a pod's IP; pods on the host
                           network share their node's); past it that address is answered 429 while
                           others are served (default: ${DEFAULT_LIMITS.maxRequestsInFlightPerAddress})
  --handshakes-per-address N
                           TLS handshakes in progress at once per client address; its further
                           connections wait their turn, so one client's flood of them never holds up
                           another client (default: ${DEFAULT_LIMITS.handshakesPerAddress})
  --handshake-rate-per-address N
                           TLS handshakes started per second per client address, N of them at once;
                           bounds the CPU one client's handshakes take; 0: no limit (default:
                           ${DEFAULT_LIMITS.handshakeRatePerAddress})
  --drain-seconds N        on SIGTERM: stop accepting, finish requests in flight, end watches between two
                           events (as the apiserver does at a watch's timeout) so clients re-watch
                           elsewhere, answer what comes on open connections for ${DEFAULT_LIMITS.drainGraceMs / 1000} s (then close
                           them), flush the uplink, for at most N seconds; a second signal stops at
                           once (default: 25)
  --cluster NAME           the cluster every hit is counted under, a filter of every view (default: the
                           kubeconfig's cluster name; in a pod, the apiserver's host)
  --run ID                 the run (a CI run id) hits are counted under, a filter of every view
                           (--source run=ID); a request's X-Apisnoop-Run header or its pod's
                           apisnoop.io/run annotation names another (default: none)

Limits (see README "Threat model and limits"): ${DEFAULT_LIMITS.firstByteTimeoutMs / 1000} s for a new connection's first byte and
for a TLS handshake, ${DEFAULT_LIMITS.headersTimeoutMs / 1000} s for a request's headers, ${DEFAULT_LIMITS.idleTimeoutMs / 1000} s for an idle keep-alive connection,
${DEFAULT_LIMITS.maxHeaderBytes / 1024} KiB of request headers.`,
  async run(args, io: CommandIO) {
    const { values } = parseOptions("proxy", args, OPTIONS);
    const listen = listenOption("listen", values.listen);
    const adminListen =
      values["admin-listen"] === "none" ? null : listenOption("admin-listen", values["admin-listen"]);
    const refreshSeconds = Number(values["spec-refresh"]);
    if (!Number.isFinite(refreshSeconds) || refreshSeconds < 0) {
      throw new CliError(`--spec-refresh must be a number of seconds, not '${values["spec-refresh"]}'`, 2);
    }
    const caDir = values["ca-dir"] ?? DEFAULT_CA_DIR;
    const bodyCap = Number(values["body-cap"]);
    if (!Number.isInteger(bodyCap) || bodyCap < 0) {
      throw new CliError(`--body-cap must be a number of bytes, not '${values["body-cap"]}'`, 2);
    }
    const responseSamples = Number(values["response-samples"]);
    if (!Number.isInteger(responseSamples) || responseSamples < 0) {
      throw new CliError(`--response-samples must be a whole number, not '${values["response-samples"]}'`, 2);
    }
    const allowTunnel = (values["allow-tunnel"] ?? []).map((value) => {
      try {
        return parseAllowTunnel(value);
      } catch (error) {
        throw new CliError(`--allow-tunnel: ${(error as Error).message}`, 2);
      }
    });
    const cluster = nameOption("cluster", values.cluster);
    const run = nameOption("run", values.run);
    const maxConnections = countOption("max-connections", values["max-connections"], 1);
    const maxRequestsInFlight = countOption("max-requests-in-flight", values["max-requests-in-flight"], 1);
    const maxRequestsInFlightPerAddress = countOption(
      "max-requests-in-flight-per-address",
      values["max-requests-in-flight-per-address"],
      1,
    );
    const handshakesPerAddress = countOption("handshakes-per-address", values["handshakes-per-address"], 1);
    const handshakeRatePerAddress = countOption(
      "handshake-rate-per-address",
      values["handshake-rate-per-address"],
      0,
    );
    const drainSeconds = countOption("drain-seconds", values["drain-seconds"], 0);
    const spoolMaxMiB = countOption("spool-max-mib", values["spool-max-mib"], 1);
    if (!["auto", "informer", "off"].includes(values.pods)) {
      throw new CliError(`--pods must be auto, informer or off, not '${values.pods}'`, 2);
    }
    const env = readEnv();
    const serviceHost = env.KUBERNETES_SERVICE_HOST ?? null;
    const inCluster = !values.kubeconfig && !env.KUBECONFIG && serviceHost !== null;
    const pods =
      values.pods === "informer"
        ? "informer"
        : values.pods === "auto" && inCluster
          ? "informer-if-allowed"
          : null;
    const ingestUrl = values["ingest-url"] ?? env.APISNOOP_INGEST_URL ?? null;
    const token = ingestUrl ? ingestToken(values["ingest-token-file"], env) : null;
    if (ingestUrl && !token) {
      throw new CliError(
        `--ingest-url ${ingestUrl} needs the dashboard's ingest token in APISNOOP_INGEST_TOKEN or --ingest-token-file`,
        2,
      );
    }
    const log = (line: string) => io.stderr.write(`apisnoop proxy: ${line}\n`);
    // Before anything listens: from here on no stray exception may end the process (README "Threat model").
    let counted: RunningProxy["metrics"] | null = null;
    let uncaughtBeforeStart = 0;
    const uninstall = installLastResort({
      countUncaught: (kind) => (counted ? counted.countUncaught(kind) : uncaughtBeforeStart++),
      log,
    });
    let proxy: RunningProxy;
    try {
      proxy = await startProxy({
        kubeconfig: values.kubeconfig,
        context: values.context,
        listen,
        adminListen,
        spec: values.spec,
        specRefreshIntervalMs: refreshSeconds * 1000,
        out: values.out,
        caDir,
        bodyCap,
        responseSamples,
        pods,
        serviceHost,
        allowTunnel,
        tlsNames: values["tls-name"] ?? [],
        ...(cluster ? { cluster } : {}),
        ...(run ? { run } : {}),
        limits: {
          maxConnections,
          maxRequestsInFlight,
          maxRequestsInFlightPerAddress,
          handshakesPerAddress,
          handshakeRatePerAddress,
        },
        uplink:
          ingestUrl && token
            ? {
                url: ingestUrl,
                token,
                spoolDir: values["spool-dir"] ?? DEFAULT_SPOOL_DIR,
                maxSpoolBytes: spoolMaxMiB * 2 ** 20,
                ...(values["proxy-id"] ? { proxyId: values["proxy-id"] } : {}),
              }
            : null,
        log,
      });
    } catch (error) {
      uninstall();
      throw new CliError((error as Error).message);
    }
    counted = proxy.metrics;
    for (let i = 0; i < uncaughtBeforeStart; i++) counted.countUncaught("exception");
    io.stdout.write(
      `${proxyBanner(proxy, {
        ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
        ...(values.context ? { context: values.context } : {}),
        ...(values.out ? { out: values.out } : {}),
        caDir,
        ingestUrl,
      })}\n`,
    );
    const signal = await untilSignal();
    log(`${signal}: draining (at most ${drainSeconds} s; a second signal stops at once)`);
    const drained = await Promise.race([
      proxy
        .drain(drainSeconds * 1000)
        .then(
          ({ inFlight, watchesEnded, watchesCut, idleClosed, cut, ms }) =>
            `drained in ${ms} ms: ${inFlight - cut} of ${inFlight} requests in flight finished (${watchesEnded} watches ended between events for their clients to re-watch${watchesCut > 0 ? `, ${watchesCut} cut (a framing the proxy cannot follow)` : ""}, ${cut} cut at the deadline); ${idleClosed} connections idle at the end of the grace closed`,
        ),
      untilSignal().then((again) => `${again}: stopping at once`),
    ]);
    log(drained);
    await proxy.close();
    uninstall();
    return 0;
  },
};
