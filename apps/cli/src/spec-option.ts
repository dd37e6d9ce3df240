import { type LoadedSpec, loadSpec } from "@apisnoop/openapi";
import type { CommandIO } from "./command";

/** The options every spec-reading command shares. */
export const SPEC_OPTIONS = {
  spec: { type: "string", default: "live" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  release: { type: "string" },
} as const;

export const SPEC_OPTIONS_HELP = `  --spec live|FILE|URL   where the OpenAPI v2 spec comes from (default: live, the cluster's /openapi/v2);
                         FILE may be plain JSON or .gz; URLs are downloaded once and cached in ~/.cache/apisnoop
  --kubeconfig FILE      kubeconfig for --spec live (default: $KUBECONFIG or ~/.kube/config)
  --context NAME         kubeconfig context for --spec live (default: the current context)
  --release 1.NN         label the spec with this release (default: from the cluster or the file name)`;

/** Loads the spec named by the shared options, showing download progress on a terminal. */
export async function loadSpecOption(
  values: { spec?: string; kubeconfig?: string; context?: string },
  io: CommandIO,
): Promise<LoadedSpec> {
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
  let shown = 0;
  const loaded = await loadSpec(values.spec ?? "live", {
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.context ? { context: values.context } : {}),
    onProgress: tty
      ? (received, total) => {
          if (received - shown < 256 * 1024 && received !== total) return;
          shown = received;
          const of = total ? ` of ${(total / 1048576).toFixed(1)} MiB` : " MiB";
          io.stderr.write(`\rdownloading spec: ${(received / 1048576).toFixed(1)}${of}`);
        }
      : undefined,
  });
  if (shown > 0) io.stderr.write("\n");
  return loaded;
}
