import { constants } from "node:os";

/** What ends the web app: Ctrl-C, `kill`, and a closed terminal. */
const ENDING_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Stops what the process started, once, then lets it exit. */
export type Stop = (signal: NodeJS.Signals) => Promise<void>;

/**
 * Ends the process on SIGINT, SIGTERM and SIGHUP, from the moment it is called. Until `started` hands
 * over a `stop`, a signal exits at once (128 + its number), which still runs `exit` hooks: the embedded
 * PostgreSQL, in a process group of its own, hears of the end only through them. After, the first
 * signal runs `stop` and exits 0 (1 if it throws); further signals wait for it rather than cut it short.
 */
export function endOnSignals(log: (line: string) => void): { started(stop: Stop): void } {
  let stop: Stop | null = null;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop === null) process.exit(128 + constants.signals[signal]);
    if (stopping) return;
    stopping = true;
    stop(signal).then(
      () => process.exit(0),
      (error: Error) => {
        log(`stopping failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  for (const signal of ENDING_SIGNALS) process.on(signal, onSignal);
  return {
    started(given) {
      stop = given;
    },
  };
}
