/** What the last resort reports to: a counter on /metrics and the log. */
export interface LastResortSink {
  countUncaught(kind: "exception" | "rejection"): void;
  log(line: string): void;
}

/** At most one log line per this many milliseconds, so a fault hit by every request cannot flood the log. */
const LOG_EVERY_MS = 10_000;

/**
 * The process-level last resort of a proxy in other people's data path: an exception nothing caught is
 * counted (`apisnoop_proxy_uncaught_errors_total`) and logged — its message and the top of its stack,
 * never request data — instead of ending the process and cutting every client off the API. The causes
 * are fixed where they are found; this only keeps one missed cause from becoming an outage. Installed by
 * the `apisnoop proxy` command, never by the library (tests must see such errors fail). Returns the
 * uninstaller.
 */
export function installLastResort(sink: LastResortSink): () => void {
  let lastLog = 0;
  let suppressed = 0;
  const report = (kind: "exception" | "rejection", error: unknown) => {
    sink.countUncaught(kind);
    const now = Date.now();
    if (now - lastLog < LOG_EVERY_MS) {
      suppressed++;
      return;
    }
    lastLog = now;
    const where = error instanceof Error ? (error.stack?.split("\n")[1]?.trim() ?? "") : "";
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    sink.log(
      `uncaught ${kind} (counted in apisnoop_proxy_uncaught_errors_total; the proxy goes on): ${message.slice(0, 300)}${where ? ` ${where}` : ""}${suppressed ? ` (+${suppressed} more not logged)` : ""}`,
    );
    suppressed = 0;
  };
  const onException = (error: unknown) => report("exception", error);
  const onRejection = (error: unknown) => report("rejection", error);
  process.on("uncaughtException", onException);
  process.on("unhandledRejection", onRejection);
  return () => {
    process.off("uncaughtException", onException);
    process.off("unhandledRejection", onRejection);
  };
}
