import { CertificateAuthority, type ClientMode, DEFAULT_CA_DIR, proxiedKubeconfig } from "@apisnoop/proxy";
import { CliError } from "../cli-error";
import type { Command } from "../command";
import { parseOptions } from "../parse-options";

const OPTIONS = {
  from: { type: "string" },
  context: { type: "string" },
  proxy: { type: "string" },
  mode: { type: "string", default: "reverse" },
  "ca-dir": { type: "string" },
} as const;

export const kubeconfigCommand: Command = {
  name: "kubeconfig",
  help: `Usage: apisnoop kubeconfig --from FILE [--context NAME] --proxy https://127.0.0.1:PORT [--mode reverse|forward] [--ca-dir DIR] > proxied.yaml

Writes (to stdout) a kubeconfig with one context whose traffic goes through 'apisnoop proxy', credentials
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

Example:
  apisnoop kubeconfig --from ~/.kube/config --proxy https://127.0.0.1:8443 > proxied.yaml
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
    const ca = await CertificateAuthority.open(values["ca-dir"] ?? DEFAULT_CA_DIR);
    try {
      io.stdout.write(
        proxiedKubeconfig({
          from: values.from,
          context: values.context,
          proxyUrl: proxyUrl.origin,
          mode: values.mode as ClientMode,
          caPem: ca.certificatePem,
        }),
      );
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    return 0;
  },
};
