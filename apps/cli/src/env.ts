import { z } from "zod";

/**
 * The settings the CLI reads from the environment, validated in this one place (GUIDE §6). Flags given on
 * the command line win over these.
 */
const EnvSchema = z.object({
  /** Any PostgreSQL; when unset, commands that store data start the embedded one. */
  DATABASE_URL: z.string().url().optional(),
  /** A folder laid out like `../shared/k8s` with specs and apisnoop's coverage; else public URLs. */
  APISNOOP_REFERENCE_DIR: z.string().min(1).optional(),
  /** Data dir of the embedded PostgreSQL (default `.apisnoop/pgdata` in the checkout). */
  APISNOOP_DATA_DIR: z.string().min(1).optional(),
  /** The dashboard a proxy delivers hits to (`apisnoop proxy --ingest-url`). */
  APISNOOP_INGEST_URL: z.string().url().optional(),
  /** The dashboard's ingest token; a secret: only ever read, never printed. */
  APISNOOP_INGEST_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  /** The kubeconfig client-node and kubectl read by default (the proxy only asks whether it is set). */
  KUBECONFIG: z.string().min(1).optional(),
  /**
   * Set by the kubelet in every pod: the apiserver service's address. The proxy then runs in a cluster
   * (pod attribution on by default) and answers clients that use this address.
   */
  KUBERNETES_SERVICE_HOST: z.string().min(1).optional(),
});
export type CliEnv = z.infer<typeof EnvSchema>;

/** Reads and validates the environment; a bad value is a one-line error naming the variable. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): CliEnv {
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`environment variable ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return parsed.data;
}
