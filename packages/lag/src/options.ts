// Tunables of the lag views, with the defaults every caller (API, metrics,
// command line) shares so their figures agree.

export interface LagOptions {
  /** A worker whose last heartbeat is older than this is not alive (workers beat every 5 s). */
  staleAfterSeconds?: number;
  /**
   * A worker silent (not stopped, no heartbeat) for longer than this is gone:
   * killed with its host or its database connection. It is no longer counted
   * as stale, so the stale alert clears by itself (docs/operations.md).
   */
  goneAfterSeconds?: number;
  /** How many chains with pending rows are probed for the overall oldest pending row. */
  oldestProbeChains?: number;
  /** How many chain_seq values above the discovered position (and above the horizon) are read to count held rows per chain and find the oldest. */
  aboveDiscoveredWindow?: bigint;
  /**
   * An earlier reading of the sealed-row total, for throughput; or a function
   * choosing one given this reading's time (the database clock).
   */
  previous?: SealedSample | ((generatedAt: string) => SealedSample | undefined);
}

/** The sealed-row total at a time (generated_at of the reading). */
export interface SealedSample {
  sealed_rows: number;
  at: string;
}

export const DEFAULT_STALE_AFTER_SECONDS = 30;
export const DEFAULT_GONE_AFTER_SECONDS = 600;
export const DEFAULT_OLDEST_PROBE_CHAINS = 100;
export const DEFAULT_ABOVE_DISCOVERED_WINDOW = 100_000n;

export function resolveOptions(options: LagOptions = {}): Required<Omit<LagOptions, 'previous'>> & Pick<LagOptions, 'previous'> {
  return {
    staleAfterSeconds: options.staleAfterSeconds ?? DEFAULT_STALE_AFTER_SECONDS,
    goneAfterSeconds: options.goneAfterSeconds ?? DEFAULT_GONE_AFTER_SECONDS,
    oldestProbeChains: options.oldestProbeChains ?? DEFAULT_OLDEST_PROBE_CHAINS,
    aboveDiscoveredWindow: options.aboveDiscoveredWindow ?? DEFAULT_ABOVE_DISCOVERED_WINDOW,
    ...(options.previous ? { previous: options.previous } : {}),
  };
}
