import { chmodSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  CertificateAuthority,
  type ClientMode,
  caFingerprint,
  DEFAULT_CA_DIR,
  fetchProxyCa,
  proxiedKubeconfig,
  resolveUpstream,
} from "@apisnoop/proxy";
import { CliError } from "../cli-error";
import type { Command } from "../command";
import { parseOptions } from "../parse-options";

const OPTIONS = {
  from: { type: "string" },
  context: { type: "string" },
  proxy: { type: "string" },
  mode: { type: "string", default: "reverse" },
  "ca-dir": { type: "string" },
  "ca-from": { type: "string" },
  output: { type: "string" },
} as const;

/**
 * Writes a file only its owner can read, whole or not at all: a kubeconfig carries the client's token or
 * key, and a shell redirection would create it world-readable under the usual umask.
 */
function writePrivateFile(file: string, text: string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, text, { mode: 0o600 });
    chmodSync(temporary, 0o600); // the mode above is masked by the umask; this is not
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new CliError(`--output ${file}: ${(error as Error).message}`);
  }
}

export const kubeconfigCommand: Command = {
  name: "kubeconfig",
  help: `Usage: apisnoop kubeconfig --from FILE [--context NAME] --proxy https://127.0.0.1:PORT [--mode reverse|forward]
                           [--ca-dir DIR | --ca-from http://HOST:ADMIN_PORT] [--output FILE]

Writes (to stdout, or to FILE created 0600) a kubeconfig with one context whose traffic goes through 'apisnoop proxy', credentials
kept as they are in FILE:
  reverse   server -> the proxy; the client trusts the proxy's CA (certificate-authority-data)
  forward   server stays; proxy-url -> the proxy (CONNECT), the proxy's CA is trusted inside the tunnel
Clients that authenticate with a bearer token work either way. A client certificate cannot pass through a
TLS-terminating proxy: run 'apisnoop proxy' with the same kubeconfig and it presents that certificate itself.

Options:
  --from FILE        the kubeconfig the client uses today
  --context NAME     the context to proxy (default: FILE's current-context)
  --proxy URL        where 'apisnoop proxy' listens, https://HOST:PORT
  --mode MODE        reverse (default) or forward
  --ca-dir DIR       the proxy's CA directory (default: ${DEFAULT_CA_DIR}); created if missing
  --ca-from URL      read the CA certificate from the running proxy's admin address instead
                     (http://127.0.0.1:8444, its --admin-listen); plain HTTP: use it on loopback or a
                     path you trust, and compare the SHA-256 printed on stderr with the proxy's
  --output FILE      write the kubeconfig to FILE, readable by its owner only (0600), replaced whole;
                     prefer it to a shell redirection, which creates the file with the umask's mode

Example:
  apisnoop kubeconfig --from ~/.kube/config --proxy https://127.0.0.1:8443 --output proxied.yaml
  kubectl --kubeconfig proxied.yaml get pods`,
  async run(args, io) {
    const { values } = parseOptions("kubeconfig", args, OPTIONS);
    if (!values.from) throw new CliError("--from FILE is required (see 'apisnoop kubeconfig --help')", 2);
    if (!values.proxy)
      throw new CliError("--proxy https://HOST:PORT is required (see 'apisnoop kubeconfig --help')", 2);
    if (values.mode !== "reverse" && values.mode !== "forward") {
      throw new CliError(`--mode must be reverse or forward, not '${values.mode}'`, 2);
    }
    let proxyUrl: URL;
    try {
      proxyUrl = new URL(values.proxy);
    } catch {
      throw new CliError(`--proxy '${values.proxy}' is not a URL like https://127.0.0.1:8443`, 2);
    }
    if (proxyUrl.protocol !== "https:" || !proxyUrl.port) {
      throw new CliError(`--proxy must be https://HOST:PORT, not '${values.proxy}'`, 2);
    }
    if (values["ca-dir"] && values["ca-from"]) throw new CliError("give --ca-dir or --ca-from, not both", 2);
    let caPem: string;
    if (values["ca-from"]) {
      try {
        caPem = await fetchProxyCa(values["ca-from"]);
      } catch (error) {
        throw new CliError((error as Error).message);
      }
      io.stderr.write(`CA of the proxy at ${values["ca-from"]}: SHA-256 ${caFingerprint(caPem)}\n`);
    } else {
      // The names this client will verify the proxy's certificate against must be within the CA's
      // name constraints: the proxy's host (reverse), the apiserver's host or tls-server-name (forward).
      const permit = [proxyUrl.hostname.replace(/^\[(.*)\]$/, "$1")];
      if (values.mode === "forward") {
        try {
          const upstream = await resolveUpstream({ kubeconfig: values.from, context: values.context });
          permit.push(upstream.host, ...(upstream.serverName ? [upstream.serverName] : []));
        } catch {
          // proxiedKubeconfig below says what is wrong with --from, in one line
        }
      }
      caPem = (await CertificateAuthority.open(values["ca-dir"] ?? DEFAULT_CA_DIR, { permit }))
        .certificatePem;
    }
    let text: string;
    try {
      text = proxiedKubeconfig({
        from: values.from,
        context: values.context,
        proxyUrl: proxyUrl.origin,
        mode: values.mode as ClientMode,
        caPem,
      });
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    if (values.output) writePrivateFile(values.output, text);
    else io.stdout.write(text);
    return 0;
  },
};
