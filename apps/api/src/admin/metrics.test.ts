import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { HorizonTracker, advanceHorizonAndDiscover, sealOnce } from '@audit-chain/sealing';
import { createTestDatabase } from '../../../../test/support/database.ts';
import { insertRows, newOrgId, waitFor } from '../../../../test/support/audit-rows.ts';
import { OTHER, TOTAL } from './prometheus.ts';
import { ADMIN, adminServer, parseExposition, series, valueOf, type Exposition } from './test-support.ts';

const db = await createTestDatabase();
const TOP_N = 5;
const app = adminServer(db.pool, { AUDIT_CHAIN_METRICS_TOP_N: String(TOP_N) });
afterAll(() => app.close());

/** 30 organizations, org i with i+1 pending rows (all discovered, none sealed past the first round). */
const orgs = Array.from({ length: 30 }, newOrgId);

beforeAll(async () => {
  for (const org of orgs) await insertRows(db.pool, org, 2);
  await insertRows(db.pool, null, 3);
  await sealOnce(db.pool, { batchSize: 500, waitMs: 500, pollMs: 20 });
  for (const [i, org] of orgs.entries()) await insertRows(db.pool, org, i + 1);
  const tracker = new HorizonTracker();
  await waitFor('discovery at the head', async () => {
    const step = await advanceHorizonAndDiscover(db.pool, tracker);
    return step.horizon >= step.head;
  });
  await db.pool.query(
    `insert into audit_chain_workers (worker_id, hostname, pid, heartbeat_at, sealed_rows, errors, seal_latency)
     values ('w1', 'h', 1, now(), 63, 4, '{"le":[10,250,1000],"counts":[50,10,2,1],"sum_ms":4321,"count":63}')`,
  );
  await db.pool.query(`update audit_chain_state set halted_at = now(), halted_reason = 'test' where org_id = $1`, [orgs[0]]);
  await db.pool.query(
    `insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body)
     select org_id, watermark_seq, sealed_count, head_checksum, now() - interval '2 minutes', 'k1', 's', '{}' from audit_chain_state where org_id = $1`,
    [orgs[29]],
  );
  const run = await db.pool.query<{ id: string }>(
    `insert into audit_chain_verifications (trigger, status, finished_at, chains_checked, rows_checked, breaks_found)
     values ('schedule', 'breaks', now(), 31, 63, 2) returning id`,
  );
  await db.pool.query(
    `insert into audit_chain_verify_status (org_id, verification_id, rows_checked, breaks_found) values ($1, $3, 2, 2), ($2, $3, 2, 0)`,
    [orgs[3], orgs[29], run.rows[0]!.id],
  );
});

async function scrape(): Promise<Exposition> {
  const response = await app.inject({ method: 'GET', url: '/metrics', headers: ADMIN });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(response.body);
}

const PER_ORG = [
  'audit_chain_pending_rows',
  'audit_chain_oldest_pending_age_seconds',
  'audit_chain_watermark_seq',
  'audit_chain_head_seq',
  'audit_chain_last_seal_timestamp_seconds',
  'audit_chain_rows_since_checkpoint',
];

test('metric names, types and labels follow the conventions', async () => {
  const metrics = await scrape();
  for (const name of PER_ORG) {
    expect(series(metrics, name).length, name).toBeGreaterThan(0);
    // A chain is named by its table and its key; _total and _other span every table.
    for (const sample of series(metrics, name)) {
      const want = sample.labels.org_id === TOTAL || sample.labels.org_id === OTHER ? ['org_id'] : ['table', 'org_id'];
      expect(Object.keys(sample.labels), name).toEqual(want);
      if (want.length === 2) expect(sample.labels.table, name).toBe('audit_chain.audit_logs');
    }
  }
  expect(metrics.types.get('audit_chain_sealed_rows_total')).toBe('counter');
  expect(metrics.types.get('audit_chain_worker_errors_total')).toBe('counter');
  expect(metrics.types.get('audit_chain_seal_latency_seconds')).toBe('histogram');
  for (const gauge of ['audit_chain_horizon_lag_seq', 'audit_chain_horizon_held_seconds', 'audit_chain_halted_chains', 'audit_chain_workers_alive']) {
    expect(metrics.types.get(gauge), gauge).toBe('gauge');
    expect(series(metrics, gauge), gauge).toHaveLength(1);
  }
  for (const name of metrics.types.keys()) {
    expect(name).toMatch(/^audit_chain_[a-z_]+$/);
    expect(metrics.help.get(name)?.length ?? 0, name).toBeGreaterThan(10);
    // Base units only: seconds, never milliseconds.
    expect(name).not.toMatch(/_(ms|milliseconds|minutes)$/);
  }
});

test('per-organization series are capped at the worst N, plus _other and _total; they add up', async () => {
  const metrics = await scrape();
  const pending = series(metrics, 'audit_chain_pending_rows');
  expect(pending).toHaveLength(TOP_N + 2);
  // Halted (orgs[0]) and broken (orgs[3]) chains first, then most pending.
  const worst = [orgs[3]!, orgs[0]!, ...[...orgs].reverse().filter((org) => org !== orgs[0] && org !== orgs[3])].slice(0, TOP_N);
  expect(pending.filter((s) => s.labels.org_id !== TOTAL && s.labels.org_id !== OTHER).map((s) => s.labels.org_id)).toEqual(worst);
  for (const name of PER_ORG) {
    const orgSeries = series(metrics, name).filter((s) => s.labels.org_id !== TOTAL && s.labels.org_id !== OTHER);
    expect(orgSeries.length, name).toBe(TOP_N);
  }
  for (const name of ['audit_chain_pending_rows', 'audit_chain_held_rows']) {
    const total = valueOf(metrics, name, { org_id: TOTAL })!;
    const rest = series(metrics, name).filter((s) => s.labels.org_id !== TOTAL);
    expect(rest.reduce((sum, s) => sum + s.value, 0), name).toBe(total);
    expect(valueOf(metrics, name, { org_id: OTHER }), name).toBeGreaterThanOrEqual(0);
  }
  const orgLabels = new Set(metrics.samples.map((s) => s.labels.org_id).filter((v): v is string => v !== undefined));
  expect(orgLabels.size).toBe(TOP_N + 2);
});

test('values match the database', async () => {
  const metrics = await scrape();
  for (const [i, org] of orgs.entries()) {
    const value = valueOf(metrics, 'audit_chain_pending_rows', { org_id: org });
    if (value !== undefined) expect(value, org).toBe(i + 1);
  }
  const truth = (
    await db.pool.query<{ pending: number; sealed: number; head: string; chains: number; max_watermark: string }>(
      `select (select count(*)::int from audit_logs a
                where a.chain_seq > coalesce((select s.watermark_seq from audit_chain_state s where s.org_id is not distinct from a.org_id), 0)) as pending,
              (select count(*)::int from audit_logs where checksum is not null) as sealed,
              (select last_value::text from audit_logs_chain_seq) as head,
              (select count(*)::int from audit_chain_state) as chains,
              (select watermark_seq::text from audit_chain_state where org_id = $1) as max_watermark`,
      [orgs[29]],
    )
  ).rows[0]!;
  expect(valueOf(metrics, 'audit_chain_pending_rows', { org_id: TOTAL })).toBe(truth.pending);
  expect(valueOf(metrics, 'audit_chain_sealed_rows_total')).toBe(truth.sealed);
  expect(valueOf(metrics, 'audit_chain_head_seq', { org_id: TOTAL })).toBe(Number(truth.head));
  expect(valueOf(metrics, 'audit_chain_watermark_seq', { org_id: orgs[29]! })).toBe(Number(truth.max_watermark));
  expect(valueOf(metrics, 'audit_chain_chains')).toBe(truth.chains);
  expect(valueOf(metrics, 'audit_chain_halted_chains')).toBe(1);
  expect(valueOf(metrics, 'audit_chain_horizon_lag_seq')).toBe(0);
  expect(valueOf(metrics, 'audit_chain_worker_errors_total')).toBe(4);
  expect(valueOf(metrics, 'audit_chain_oldest_pending_age_seconds', { org_id: TOTAL })).toBeGreaterThan(0);
  // A chain outside the top N still counts in the _total of breaks.
  expect(valueOf(metrics, 'audit_chain_verification_breaks', { org_id: TOTAL })).toBe(2);
  expect(valueOf(metrics, 'audit_chain_verification_breaks', { org_id: orgs[29]! })).toBe(0);
  expect(valueOf(metrics, 'audit_chain_chains_with_breaks')).toBe(1);
  expect(valueOf(metrics, 'audit_chain_rows_since_checkpoint', { org_id: orgs[29]! })).toBe(0);
  expect(valueOf(metrics, 'audit_chain_last_checkpoint_age_seconds', { org_id: TOTAL })).toBeGreaterThanOrEqual(120);
  expect(valueOf(metrics, 'audit_chain_last_verification_failed')).toBe(0);

  // The workers' histogram, bounds converted to seconds, counts cumulative.
  const buckets = series(metrics, 'audit_chain_seal_latency_seconds_bucket').map((s) => [s.labels.le, s.value]);
  expect(buckets).toEqual([
    ['0.01', 50],
    ['0.25', 60],
    ['1', 62],
    ['+Inf', 63],
  ]);
  expect(valueOf(metrics, 'audit_chain_seal_latency_seconds_sum')).toBeCloseTo(4.321, 6);
  expect(valueOf(metrics, 'audit_chain_seal_latency_seconds_count')).toBe(63);
});

/** Metric names an expression refers to: audit_chain_* identifiers, with histogram suffixes folded. */
function referencedMetrics(expression: string): string[] {
  return [...expression.matchAll(/\baudit_chain_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

test('alert rules and the Grafana dashboard use only metrics that /metrics exports', async () => {
  const exported = new Set((await scrape()).types.keys());
  const alerts = parseYaml(readFileSync(new URL('../../../../docker/prometheus/alerts.yml', import.meta.url), 'utf8')) as {
    groups: { name: string; rules: { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[];
  };
  const rules = alerts.groups.flatMap((group) => group.rules);
  expect(rules.map((rule) => rule.alert)).toEqual(
    expect.arrayContaining([
      'AuditChainLagTooOld',
      'AuditChainHorizonHeld',
      'AuditChainTableHorizonHeld',
      'AuditChainTableDrifted',
      'AuditChainVerificationBreaks',
      'AuditChainCheckpointTooOld',
      'AuditChainWorkerErrors',
      'AuditChainNoWorker',
    ]),
  );
  for (const rule of rules) {
    expect(rule.labels.severity, rule.alert).toMatch(/^(warning|critical)$/);
    expect(rule.annotations.summary, rule.alert).toBeTruthy();
    const names = referencedMetrics(rule.expr);
    expect(names.length, rule.alert).toBeGreaterThan(0);
    for (const name of names) expect(exported, `${rule.alert}: ${name}`).toContain(name);
  }

  const dashboard = JSON.parse(readFileSync(new URL('../../../../docker/grafana/audit-chain-dashboard.json', import.meta.url), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  const expressions = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => [panel.title, target.expr] as const));
  expect(expressions.length).toBeGreaterThan(5);
  for (const [title, expr] of expressions) {
    for (const name of referencedMetrics(expr)) expect(exported, `${title}: ${name}`).toContain(name);
  }
});
