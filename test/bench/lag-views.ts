// Issue 13: the admin overview and /metrics with very many chains. 100,000
// organizations with rows discovered but not sealed, a latest verification for
// every chain (a few with breaks), some halted, and an open transaction holding
// the horizon while committed rows wait above it in many chains; plus an
// attached product table (issue 11) with its own chains, sealed once, then
// rows pending and an open transaction holding its horizon too. The reading
// counts the held rows per chain (one bounded BRIN range), reads the worst
// chains through discovery's lag index, sums the chain tables, counts the
// attached table's rows above its watermarks, and probes the page's chains.
// Requests go through the API's server factory in process (Fastify inject), so
// the figure is the request's own time.
import pg from 'pg';
import { buildServer } from '@audit-chain/api';
import { loadConfig } from '@audit-chain/config';
import { createPool, migrate } from '@audit-chain/db';
import { attachTable } from '@audit-chain/lifecycle';
import { HorizonTracker, advanceHorizonAndDiscover, sealAttachedTables } from '@audit-chain/sealing';
import { createScratchDatabase } from './scratch-database.ts';
import type { BenchOptions, BenchSection, SectionReport } from './section.ts';

const TOKEN = 'bench-admin-token-lag-views';
const TARGET_MS = 200;

async function loadAverage(): Promise<string> {
  const [one, five, fifteen] = (await import('node:os')).loadavg();
  return `load average ${one!.toFixed(2)}, ${five!.toFixed(2)}, ${fifteen!.toFixed(2)}`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const lagViewsSection: BenchSection = {
  id: 'views',
  title: 'Lag views with many chains',
  async run(options: BenchOptions): Promise<SectionReport> {
    const chains = options.quick ? 10_000 : 100_000;
    const heldRows = 20_000;
    const tenants = options.quick ? 100 : 1_000;
    const tenantRows = 10;
    const requests = options.rounds ?? (options.quick ? 10 : 30);
    const scratch = await createScratchDatabase(options.serverUrl, 'views');
    options.onCleanup(() => scratch.drop());
    await migrate(scratch.url);
    const pool = createPool(scratch.url, { applicationName: 'audit-chain bench views', max: 4 });
    const holder = new pg.Client({ connectionString: scratch.url, application_name: 'bench holder' });
    await holder.connect();
    const app = buildServer({ pool, config: loadConfig({ AUDIT_CHAIN_ADMIN_TOKEN: TOKEN }), logger: false, adminSampleIntervalMs: 0 });
    try {
      options.log(`views: ${chains} chains x 2 rows`);
      const org = (expr: string) => `('00000000-0000-4000-8000-' || lpad((${expr})::text, 12, '0'))::uuid`;
      const insert = (rows: string) =>
        `insert into audit_logs (org_id, actor_type, actor_id, action, resource_type, resource_id, details)
         select ${org('g % ' + chains)}, 'user', 'u', 'bench.view', 'doc', 'd', '{}'::jsonb from generate_series(1, ${rows}) g`;
      await pool.query(insert(String(chains * 2)));
      const tracker = new HorizonTracker();
      for (;;) {
        const step = await advanceHorizonAndDiscover(pool, tracker);
        if (step.horizon >= step.head) break;
      }
      await pool.query(
        `insert into audit_chain_verifications (trigger, status, finished_at, chains_checked, rows_checked, breaks_found)
         values ('schedule', 'breaks', now(), ${chains}, 0, 10)`,
      );
      await pool.query(
        `insert into audit_chain_verify_status (org_id, verification_id, rows_checked, breaks_found)
         select org_id, (select max(id) from audit_chain_verifications), 0, case when random() < 0.0001 then 1 else 0 end from audit_chain_state`,
      );
      await pool.query(`update audit_chain_state set halted_at = now(), halted_reason = 'bench' where org_id in (select org_id from audit_chain_state limit 5)`);
      // The attached table: every row sealed once, then one more row per tenant pending.
      options.log(`views: attached table, ${tenants} chains x ${tenantRows} rows`);
      const activity = (rows: string) =>
        `insert into public.bench_activity (tenant, action) select 'tenant-' || (g % ${tenants}), 'signed_in' from generate_series(1, ${rows}) g`;
      await pool.query('create table public.bench_activity (id bigserial primary key, tenant text not null, action text not null, created_at timestamptz not null default now())');
      await pool.query(activity(String(tenants * tenantRows)));
      await attachTable(pool, { table: 'public.bench_activity', orgColumn: 'tenant', orderBy: ['created_at', 'id'] });
      await sealAttachedTables(pool, { batchSize: 5_000, waitMs: 10_000 });
      await pool.query(activity(String(tenants)));
      // The horizon held: an open writer, then committed rows behind it in many chains.
      await holder.query('begin');
      await holder.query(insert('1'));
      await holder.query(activity('1'));
      await pool.query(insert(String(heldRows)));
      await advanceHorizonAndDiscover(pool, tracker);
      await pool.query('analyze');

      const measure = async (url: string) => {
        const times: number[] = [];
        for (let i = 0; i < requests + 2; i += 1) {
          const started = performance.now();
          const response = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
          const elapsed = performance.now() - started;
          if (response.statusCode !== 200) throw new Error(`${url}: HTTP ${response.statusCode}: ${response.body.slice(0, 200)}`);
          if (i >= 2) times.push(elapsed); // two warm-up requests
        }
        return times.sort((a, b) => a - b);
      };
      const loadBefore = await loadAverage();
      const rows: string[] = [];
      const targets = [];
      for (const url of ['/admin/v1/lag?limit=50', '/admin/v1/status', '/metrics']) {
        options.log(`views: ${url}`);
        const times = await measure(url);
        const p50 = percentile(times, 50);
        const p95 = percentile(times, 95);
        rows.push(`| \`GET ${url}\` | ${requests} | ${p50.toFixed(0)} ms | ${p95.toFixed(0)} ms | ${times.at(-1)!.toFixed(0)} ms |`);
        if (url !== '/admin/v1/status') targets.push({ name: `GET ${url} p50 < ${TARGET_MS} ms with ${chains.toLocaleString('en-US')} chains`, met: p50 < TARGET_MS, measured: `${p50.toFixed(0)} ms` });
      }
      const lag = (await app.inject({ method: 'GET', url: '/admin/v1/lag?limit=1', headers: { authorization: `Bearer ${TOKEN}` } })).json() as {
        totals: { chains: number; held_rows: number; chains_with_pending: number };
        tables: { table: string; chains: number; pending_rows: number; held_rows: number; holders: unknown[] }[];
      };
      const attached = lag.tables.find((table) => table.table === 'public.bench_activity');
      if (!attached || attached.held_rows !== tenants || attached.holders.length !== 1) throw new Error(`views: the attached table's figures are not what was set up: ${JSON.stringify(attached)}`);
      const markdown = [
        `## ${this.title}`,
        '',
        `- Command: \`${options.command}\`; date ${new Date().toISOString()}`,
        `- Data: ${chains.toLocaleString('en-US')} organizations with 2 discovered, unsealed rows each; a latest verification result for every chain (about 0.01% with breaks), 5 halted; an open transaction holding the horizon with ${heldRows.toLocaleString('en-US')} committed rows waiting behind it (the reading counted ${lag.totals.held_rows.toLocaleString('en-US')} held rows in ${lag.totals.chains.toLocaleString('en-US')} chains of ${lag.tables.length} tables). An attached table (\`public.bench_activity\`, ${(tenants * tenantRows).toLocaleString('en-US')} rows in ${tenants.toLocaleString('en-US')} tenant chains, sealed) with ${attached.held_rows.toLocaleString('en-US')} rows pending behind its own open writer.`,
        `- Load: \`uptime\` before the requests: ${loadBefore}; after: ${(await loadAverage())}.`,
        '- Each request is served in process by the API\'s server factory (Fastify `inject`), after two warm-up requests, one at a time; the time includes the read-only snapshot transaction, JSON or Prometheus encoding.',
        '',
        '| request | requests | p50 | p95 | max |',
        '| --- | ---: | ---: | ---: | ---: |',
        ...rows,
        '',
        'Targets (issue 13):',
        '',
        ...targets.map((t) => `- ${t.met ? 'PASS' : 'MISS'} ${t.name}: ${t.measured}`),
      ].join('\n');
      return { markdown, targets };
    } finally {
      await holder.query('rollback').catch(() => {});
      await holder.end();
      await app.close();
      await pool.end();
      await scratch.drop();
    }
  },
};
