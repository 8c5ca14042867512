// The lag model as JSON: the admin API sends these objects as they are and the
// command line prints them (--json) or renders them as text, so both always
// agree. chain_seq values are strings (bigints, as everywhere in the API);
// counts and ages (seconds, millisecond precision) are numbers; times are
// RFC 3339 UTC strings with microseconds.

/**
 * A chain is a chained table and a value of its chain key. In audit_logs the
 * key is an organization's uuid, or 'system' for the rows with a NULL org_id;
 * in an attached table it is the key column's value as text, 'null' for rows
 * whose key is NULL, or 'all' for a table without a chain key. Every chain is
 * also named by its table (ChainLag.table).
 */
export type ChainId = string;

export interface PendingRow {
  chain_seq: string;
  /**
   * When the row was written: audit_logs' recorded_at; for an attached table
   * the earliest value of its time column among the pending rows (the first
   * --order-by column, when it is a timestamp). Null when the table has none.
   */
  recorded_at: string | null;
  age_seconds: number | null;
}

/** An attached table whose columns no longer match its confirmed covered set: its chains are not sealed until the command is run. */
export interface ChainDrift {
  message: string;
  /** The command that confirms the new column set (after review). */
  command: string;
}

export interface CheckpointSummary {
  id: number;
  chain_seq: string;
  sealed_count: number;
  signed_at: string;
  age_seconds: number;
  key_id: string;
  /** Rows sealed since this checkpoint: not yet anchored outside the database. */
  rows_since: number;
}

export interface ChainVerification {
  verification_id: number;
  verified_at: string;
  age_seconds: number;
  rows_checked: number;
  breaks_found: number;
  first_break: unknown;
}

export interface ChainLag {
  /** The chained table, schema.table (audit_logs is audit_chain.audit_logs). */
  table: string;
  chain: ChainId;
  /** The chain key's value as text (audit_logs: the org uuid); null for a NULL key or a table without one. */
  chain_key: string | null;
  /** audit_logs' org_id; null for the system chain and for attached tables' chains. */
  org_id: string | null;
  /**
   * Rows of this chain not sealed yet: those discovery counted (seen_count -
   * sealed_count) plus held_rows.
   */
  pending_rows: number;
  /**
   * Of pending_rows, the committed rows above the discovered position: waiting
   * for the safe horizon (held by an open transaction) or for discovery's next
   * step. Counted from a bounded window above that position (see totals).
   */
  held_rows: number;
  sealed_rows: number;
  watermark_seq: string;
  /** Highest chain_seq discovery has seen in this chain. */
  head_seq: string;
  /** First visible row above the watermark, found with one index probe; null when there is none. */
  oldest_pending: PendingRow | null;
  last_sealed_at: string | null;
  last_seal_age_seconds: number | null;
  halted: { at: string; reason: string | null } | null;
  /** Set while the chain's table is drifted (a problem: sorted first). */
  drift: ChainDrift | null;
  last_checkpoint: CheckpointSummary | null;
  last_verification: ChainVerification | null;
}

/**
 * One chained table: its own horizon (audit_logs: the horizon above; an
 * attached table: the one its sealer last proved), its open writers, and its
 * chains' figures summed. Summed over the tables they make the totals.
 */
export interface TableLag {
  table: string;
  /** 1: audit_logs (format v1 and v2 rows); 2: an attached table. */
  format_version: number;
  chain_key_column: string | null;
  status: 'attached' | 'drifted';
  drift: ChainDrift | null;
  head_seq: string;
  horizon_seq: string;
  horizon_at: string | null;
  /** As HorizonLag.held_seconds, for this table. */
  held_seconds: number;
  state: HorizonState;
  holders: HorizonHolder[];
  chains: number;
  chains_with_pending: number;
  /** pending_rows_discovered + held_rows + pending_unattributed of this table. */
  pending_rows: number;
  pending_rows_discovered: number;
  held_rows: number;
  pending_unattributed: number;
  sealed_rows: number;
}

/** An open transaction that wrote audit rows: the safe horizon cannot pass the chain_seq it holds. */
export interface HorizonHolder {
  /** NULL for a prepared (two-phase) transaction. */
  pid: number | null;
  application_name: string | null;
  user_name: string | null;
  state: string | null;
  xact_start: string | null;
  xact_age_seconds: number | null;
  state_change: string | null;
  state_age_seconds: number | null;
  wait_event: string | null;
  query: string | null;
}

/**
 * Why the horizon is where it is: caught_up (horizon = head), open_writers
 * (audit-writing transactions are still open), no_worker (nothing is advancing
 * it: no sealing worker has a fresh heartbeat), advancing (a worker is on it;
 * the horizon trails by about one poll interval).
 */
export type HorizonState = 'caught_up' | 'open_writers' | 'no_worker' | 'advancing';

export interface HorizonLag {
  /** Last chain_seq handed out by the sequence. */
  head_seq: string;
  horizon_seq: string;
  horizon_at: string | null;
  discovered_seq: string;
  discovered_at: string | null;
  /** head_seq - horizon_seq, in chain_seq values (rolled-back values included). */
  lag_seq: string;
  /**
   * How long rows have been waiting behind the horizon: from the later of the
   * horizon's last move and the start of the oldest wait (the oldest open
   * audit-writing transaction, or the oldest committed row above the
   * horizon). 0 when nothing waits: caught up, or only rolled-back values
   * above the horizon. Never counts idle time before the first waiting row.
   */
  held_seconds: number;
  state: HorizonState;
  holders: HorizonHolder[];
  workers_alive: number;
}

export interface Throughput {
  rows_per_second: number;
  window_seconds: number;
  /** Always the change of the sum of audit_chain_state.sealed_count between two readings. */
  method: 'sealed_count_delta';
}

export interface OldestPending extends PendingRow {
  table: string;
  chain: ChainId;
  org_id: string | null;
  /**
   * False when the figure may miss an older row: more chains had pending rows
   * than were probed, or the probe above the discovered position found only gaps.
   */
  exact: boolean;
}

export interface LagTotals {
  /**
   * Over every chained table: chains with a state row, plus chains whose only
   * rows are held above the discovered position (audit_logs) or above their
   * table's horizon (attached tables).
   */
  chains: number;
  chains_with_pending: number;
  /**
   * pending_rows_discovered + held_rows + pending_unattributed, which is the
   * sum of every chain's pending_rows plus pending_unattributed. Exact unless
   * rollbacks left gaps above the discovered position.
   */
  pending_rows: number;
  /**
   * Rows counted into their chains, not sealed yet, and not held: audit_logs'
   * rows discovery counted; an attached table's rows at or below its horizon.
   */
  pending_rows_discovered: number;
  /**
   * Committed rows above the discovered position (audit_logs) or above their
   * table's horizon (attached tables), counted into their chains (each chain's
   * held_rows, summed).
   */
  held_rows: number;
  /**
   * chain_seq values above those positions that no chain's figures count:
   * rows of transactions still open (invisible until they commit), values
   * rolled back, or rows beyond the window read. An upper bound on rows.
   */
  pending_unattributed: number;
  /**
   * held_rows + pending_unattributed: summed over the tables, head_seq minus
   * the discovered position (audit_logs) or the horizon (attached tables).
   */
  pending_above_discovered: number;
  sealed_rows: number;
  oldest_pending: OldestPending | null;
  halted_chains: number;
  /** Attached tables whose columns drifted: their chains are not sealed until `attach --refresh`. */
  drifted_tables: number;
  throughput: Throughput | null;
}

export interface LagOverview {
  generated_at: string;
  horizon: HorizonLag;
  totals: LagTotals;
  /** Every chained table, audit_logs first; their figures sum to the totals. */
  tables: TableLag[];
  /** Worst first across every table. */
  chains: ChainLag[];
  next_cursor: string | null;
}

export interface CheckpointRecord {
  id: number;
  /** The chained table, schema.table: audit_logs' checkpoints are in audit_chain_checkpoints, attached tables' in audit_chain_table_checkpoints (ids of each). */
  table: string;
  chain: ChainId;
  /** The chain key's value as text (audit_logs: the org uuid); null for a NULL key or a table without one. */
  chain_key: string | null;
  org_id: string | null;
  chain_seq: string;
  sealed_count: number;
  checksum: string;
  signed_at: string;
  key_id: string;
  signature: string;
  body: unknown;
  exported_to: unknown;
  created_at: string;
}

export interface ChainDetail {
  generated_at: string;
  /** audit_logs' horizon (for an attached chain, its own table's is `table_lag`). */
  horizon: HorizonLag;
  chain: ChainLag;
  /** An attached chain's table: its horizon, open writers and summed figures; null for audit_logs' chains (its horizon is `horizon`). */
  table_lag: TableLag | null;
  /** The chain's latest checkpoints (at most 5), highest chain_seq first. */
  recent_checkpoints: CheckpointRecord[];
}

export interface LatencyBucket {
  /** Upper bound in milliseconds; null is +Inf. */
  le_ms: number | null;
  /** Cumulative count of seals at or below le_ms. */
  count: number;
}

export interface SealLatency {
  buckets: LatencyBucket[];
  count: number;
  sum_ms: number;
  /** Estimated from the buckets by linear interpolation (as Prometheus' histogram_quantile); null without data. */
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
}

export interface WorkerInfo {
  worker_id: string;
  hostname: string;
  pid: number;
  started_at: string;
  heartbeat_at: string;
  heartbeat_age_seconds: number;
  stopped_at: string | null;
  alive: boolean;
  /** alive, stale (silent, not stopped), gone (silent past the gone limit: no longer counted as stale) or stopped. */
  state: 'alive' | 'stale' | 'gone' | 'stopped';
  sealed_rows: number;
  sealed_batches: number;
  errors: number;
  last_error: string | null;
  last_error_at: string | null;
  horizon_seq: string | null;
}

export interface WorkersSummary {
  alive: number;
  /** Not stopped, but no heartbeat within the staleness limit (30 s): crashed or hung. */
  stale: number;
  /**
   * Not stopped, and no heartbeat within the gone limit (10 min): killed
   * without a chance to say so (its host, or its database, went away). Not
   * counted as stale, so the stale alert clears; the row stays for the record.
   */
  gone: number;
  /** Sum over every worker row, stopped ones included. */
  sealed_rows: number;
  errors: number;
  last_heartbeat_age_seconds: number | null;
  /** Workers seen in the last hour, most recent heartbeat first. */
  recent: WorkerInfo[];
}

export interface VerificationRun {
  id: number;
  trigger: string;
  scope: string | null;
  started_at: string;
  finished_at: string | null;
  status: string;
  chains_checked: number;
  rows_checked: number;
  breaks_found: number;
  breaks: unknown;
  error: string | null;
}

export interface ChainVerificationStatus extends ChainVerification {
  chain: ChainId;
  org_id: string | null;
}

export interface HaltedChain {
  chain: ChainId;
  org_id: string | null;
  halted_at: string;
  reason: string | null;
}

export interface LagStatus {
  generated_at: string;
  horizon: HorizonLag;
  totals: LagTotals;
  tables: TableLag[];
  workers: WorkersSummary;
  seal_latency: SealLatency;
  last_checkpoint: (CheckpointSummary & { chain: ChainId; org_id: string | null }) | null;
  last_verification: (VerificationRun & { age_seconds: number | null }) | null;
  verification: { chains_verified: number; chains_with_breaks: number; breaks: number };
  halted: { count: number; chains: HaltedChain[] };
}

export interface VerificationsPage {
  generated_at: string;
  runs: VerificationRun[];
  /** Latest result per chain: chains with breaks first, then the longest unverified. */
  latest_per_chain: ChainVerificationStatus[];
  summary: { chains_verified: number; chains_with_breaks: number; breaks: number };
}

export interface CheckpointsPage {
  generated_at: string;
  checkpoints: CheckpointRecord[];
  next_cursor: string | null;
}
