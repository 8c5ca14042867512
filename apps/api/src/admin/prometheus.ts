// The lag model in the Prometheus text format. A fresh registry per scrape
// (never prom-client's global default): the per-organization series are the
// worst N chains of this scrape, so an organization that left the top N must
// not linger with a stale value.
//
// Per-chain series carry table (the chained table, schema.table) and org_id
// (the chain key: an organization's uuid or "system" in audit_logs; the key's
// value, "null" or "all" in an attached table); where a total makes sense the
// same metric has one more series with org_id="_total" over every chain of
// every table, not only the N shown. Per-table series (audit_chain_table_*)
// carry table alone. Row counts that add
// up also have org_id="_other": everything the listed chains do not hold
// (chains beyond the N, rows not attributed to any chain), so the series other
// than _total always sum to _total. Read the _total series for totals.
import { Counter, Gauge, Registry } from 'prom-client';
import type { ChainLag, LagStatus, MetricsSnapshot, TableLag } from '@audit-chain/lag';

export const TOTAL = '_total';
export const OTHER = '_other';

export type Sample = [labels: Record<string, string>, value: number];

interface MetricSpec {
  name: string;
  help: string;
  samples: Sample[];
}

const chainLabels = (chain: ChainLag): Record<string, string> => ({ table: chain.table, org_id: chain.chain });

const perChain = (top: ChainLag[], value: (chain: ChainLag) => number | null): Sample[] =>
  top.flatMap((chain) => {
    const v = value(chain);
    return v === null ? [] : [[chainLabels(chain), v] as Sample];
  });

const perTable = (tables: readonly TableLag[], value: (table: TableLag) => number): Sample[] => tables.map((table) => [{ table: table.table }, value(table)]);

/**
 * Per-chain series of a count that adds up, then `_other` (the total minus the
 * listed chains) and `_total`: the series other than `_total` sum to it exactly.
 */
export function additiveSamples(top: readonly ChainLag[], value: (chain: ChainLag) => number, total: number): Sample[] {
  const listed = top.reduce((sum, chain) => sum + value(chain), 0);
  return [...top.map((chain) => [chainLabels(chain), value(chain)] as Sample), [{ org_id: OTHER }, total - listed], [{ org_id: TOTAL }, total]];
}

const seconds = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) / 1000 : null);

function gauges(status: LagStatus, top: ChainLag[]): MetricSpec[] {
  const { horizon, totals, workers } = status;
  const total = (value: number): Sample => [{ org_id: TOTAL }, value];
  const oldestHolder = horizon.holders.reduce((max, holder) => Math.max(max, holder.xact_age_seconds ?? 0), 0);
  const global = (name: string, help: string, value: number | null): MetricSpec => ({ name, help, samples: value === null ? [] : [[{}, value]] });
  return [
    {
      name: 'audit_chain_pending_rows',
      help: 'Rows not sealed yet, held behind the horizon or not. _other: chains not listed plus chain_seq values no chain holds yet (open transactions, rollbacks; an upper bound). _total: all of them.',
      samples: additiveSamples(top, (c) => c.pending_rows, totals.pending_rows),
    },
    {
      name: 'audit_chain_held_rows',
      help: 'Of the pending rows, the committed ones waiting above the discovered position (held behind the horizon, or not discovered yet). _other: chains not listed.',
      samples: additiveSamples(top, (c) => c.held_rows, totals.held_rows),
    },
    {
      name: 'audit_chain_oldest_pending_age_seconds',
      help: 'Age of the oldest pending row (recorded_at to now); 0 when nothing is pending.',
      samples: [
        ...perChain(top, (c) => (c.oldest_pending ? c.oldest_pending.age_seconds : 0)),
        total(totals.oldest_pending?.age_seconds ?? 0),
      ],
    },
    { name: 'audit_chain_watermark_seq', help: 'chain_seq of the last sealed row of the chain.', samples: perChain(top, (c) => Number(c.watermark_seq)) },
    {
      name: 'audit_chain_head_seq',
      help: 'Highest chain_seq discovery has seen in the chain; _total: the last chain_seq handed out by the sequence.',
      samples: [...perChain(top, (c) => Number(c.head_seq)), total(Number(horizon.head_seq))],
    },
    { name: 'audit_chain_last_seal_timestamp_seconds', help: 'When the chain was last sealed (Unix time).', samples: perChain(top, (c) => seconds(c.last_sealed_at)) },
    {
      name: 'audit_chain_last_checkpoint_age_seconds',
      help: 'Age of the chain\'s latest recorded signed checkpoint; _total: age of the newest checkpoint of any chain.',
      samples: [
        ...perChain(top, (c) => c.last_checkpoint?.age_seconds ?? null),
        ...(status.last_checkpoint ? [total(status.last_checkpoint.age_seconds)] : []),
      ],
    },
    {
      name: 'audit_chain_rows_since_checkpoint',
      help: 'Rows sealed since the chain\'s latest checkpoint: not yet anchored outside the database.',
      samples: perChain(top, (c) => (c.last_checkpoint ? c.last_checkpoint.rows_since : c.sealed_rows)),
    },
    {
      name: 'audit_chain_verification_breaks',
      help: 'Breaks found by the latest verification of the chain; _total: summed over every chain.',
      samples: [...perChain(top, (c) => c.last_verification?.breaks_found ?? null), total(status.verification.breaks)],
    },
    {
      name: 'audit_chain_table_pending_rows',
      help: 'Rows of the chained table not sealed yet (held or not, and its unattributed chain_seq values); the tables sum to audit_chain_pending_rows{org_id="_total"}.',
      samples: perTable(status.tables, (t) => t.pending_rows),
    },
    { name: 'audit_chain_table_held_rows', help: 'Of the table\'s pending rows, the committed ones held above its horizon (audit_logs: above the discovered position).', samples: perTable(status.tables, (t) => t.held_rows) },
    { name: 'audit_chain_table_sealed_rows', help: 'Rows of the table sealed (sum of its chains\' sealed counts).', samples: perTable(status.tables, (t) => t.sealed_rows) },
    { name: 'audit_chain_table_chains', help: 'Chains of the table.', samples: perTable(status.tables, (t) => t.chains) },
    { name: 'audit_chain_table_horizon_held_seconds', help: 'How long rows of the table have waited behind its horizon; 0 when nothing waits.', samples: perTable(status.tables, (t) => t.held_seconds) },
    { name: 'audit_chain_table_horizon_holders', help: 'Open transactions writing to the table while its horizon is behind its head.', samples: perTable(status.tables, (t) => t.holders.length) },
    {
      name: 'audit_chain_table_drifted',
      help: '1 when the table\'s columns changed and its chains are not sealed until `audit-chain attach --table T --refresh`; 0 otherwise.',
      samples: perTable(status.tables, (t) => Number(t.status === 'drifted')),
    },
    global('audit_chain_drifted_tables', 'Attached tables whose columns drifted (not sealed until attach --refresh).', totals.drifted_tables),
    global('audit_chain_chains', 'Chains of every chained table (audit_logs: organizations and the system chain) with a chain state or pending rows.', totals.chains),
    global('audit_chain_chains_with_pending', 'Chains with rows not sealed yet (held behind the horizon or not).', totals.chains_with_pending),
    global('audit_chain_chains_with_breaks', 'Chains whose latest verification found breaks.', status.verification.chains_with_breaks),
    global('audit_chain_halted_chains', 'Chains whose sealing stopped on a broken invariant.', status.halted.count),
    global('audit_chain_horizon_seq', 'The safe horizon: every chain_seq at or below it is final.', Number(horizon.horizon_seq)),
    global('audit_chain_discovered_seq', 'Rows up to this chain_seq are counted into their chains.', Number(horizon.discovered_seq)),
    global('audit_chain_horizon_lag_seq', 'Sequence head minus the safe horizon, in chain_seq values.', Number(horizon.lag_seq)),
    global(
      'audit_chain_horizon_held_seconds',
      'How long rows have waited behind the horizon: from the later of its last move and the start of the oldest open writer or held row; 0 when nothing waits.',
      horizon.held_seconds,
    ),
    global('audit_chain_horizon_holders', 'Open audit-writing transactions while the horizon is behind the head.', horizon.holders.length),
    global('audit_chain_horizon_oldest_holder_seconds', 'Age of the oldest open audit-writing transaction holding the horizon; 0 when none.', oldestHolder),
    global('audit_chain_workers_alive', 'Sealing workers with a recent heartbeat.', workers.alive),
    global('audit_chain_workers_stale', 'Sealing workers not stopped but without a recent heartbeat (crashed or hung), until they count as gone.', workers.stale),
    global('audit_chain_workers_gone', 'Sealing workers silent for longer than the gone limit (10 min by default): no longer counted as stale.', workers.gone),
    global('audit_chain_worker_last_heartbeat_age_seconds', 'Age of the freshest heartbeat of a running worker.', workers.last_heartbeat_age_seconds),
    global('audit_chain_last_verification_timestamp_seconds', 'When the last verification run finished (Unix time).', seconds(status.last_verification?.finished_at)),
    global(
      'audit_chain_last_verification_failed',
      'Whether the last finished verification run could not run (1) or ran (0).',
      status.last_verification ? Number(status.last_verification.status === 'failed') : null,
    ),
  ];
}

/** Builds the registry for one scrape. */
export function buildRegistry(snapshot: MetricsSnapshot): Registry {
  const registry = new Registry();
  const { status, top } = snapshot;
  for (const spec of gauges(status, top)) {
    // An unknown value is left out rather than exported as 0 (prom-client's
    // default for an unlabelled gauge), which would look like a fresh heartbeat.
    if (spec.samples.length === 0) continue;
    const labelNames = [...new Set(spec.samples.flatMap(([labels]) => Object.keys(labels)))];
    const gauge = new Gauge({ name: spec.name, help: spec.help, labelNames, registers: [registry] });
    for (const [labels, value] of spec.samples) gauge.set(labels, value);
  }
  const sealed = new Counter({ name: 'audit_chain_sealed_rows_total', help: 'Rows sealed, over every chain (sum of sealed_count).', registers: [registry] });
  sealed.inc(status.totals.sealed_rows);
  const errors = new Counter({
    name: 'audit_chain_worker_errors_total',
    help: 'Errors counted by sealing workers (database errors retried, invariants broken), over every worker row.',
    registers: [registry],
  });
  errors.inc(status.workers.errors);
  registry.registerMetric(latencyHistogram(status) as never);
  return registry;
}

/**
 * The workers' merged seal-latency histogram as it is: prom-client's
 * Histogram can only observe values, not take counts that were aggregated
 * elsewhere, so this is a collector returning the series directly.
 */
function latencyHistogram(status: LagStatus) {
  const name = 'audit_chain_seal_latency_seconds';
  const latency = status.seal_latency;
  const values = [
    ...latency.buckets.map((bucket) => ({
      metricName: `${name}_bucket`,
      labels: { le: bucket.le_ms === null ? '+Inf' : String(bucket.le_ms / 1000) },
      value: bucket.count,
    })),
    { metricName: `${name}_sum`, labels: {}, value: latency.sum_ms / 1000 },
    { metricName: `${name}_count`, labels: {}, value: latency.count },
  ];
  const metric = {
    name,
    help: 'Time from a row\'s insert (recorded_at) to its seal, merged over every worker row.',
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({ name, help: metric.help, type: 'histogram', aggregator: 'sum', values }),
    reset: () => {},
  };
  return metric;
}
