// A worker told to stop while it is still loading its modules stops cleanly.
// Until the worker command listens for SIGINT/SIGTERM itself, Node's default
// action would kill the process by the signal (exit "null, SIGTERM"), which a
// supervisor reads as a crash. So for the `worker` command the entry listens
// from its first line, before anything is imported, and the command reads the
// remembered request when it starts. Other commands keep the default action.
// This module imports nothing.

const early = new AbortController();

/** Aborted when SIGINT or SIGTERM arrived before the command took over. */
export const earlyStop: AbortSignal = early.signal;

/**
 * Listens once for SIGINT/SIGTERM and remembers them in `earlyStop`. Once, as the
 * worker command listens: a second signal still ends the process at once.
 */
export function listenForEarlyStop(): void {
  const stop = () => early.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
