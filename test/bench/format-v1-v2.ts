// Issue 11: sealing under format v2 against v1 on the same data. One scratch
// database holds two copies of the same backlog (identical rows, two sets of
// organizations); each round seals one copy under v1 and the other under v2 with
// the package's own sealChain in this process (the worker's code path, without
// its polling), alternating which format goes first, and times each.
import pg from 'pg';
import { createPool, migrate } from '@audit-chain/db';
import { advanceHorizonAndDiscover, HorizonTracker, sealChain } from '@audit-chain/sealing';
import { createScratchDatabase } from './scratch-database.ts';
import type { BenchOptions, BenchSection, SectionReport, TargetCheck } from './section.ts';

const ORGS_PER_COPY = 10;
const BATCH = 5000;

const orgId = (round: number, copy: number, index: number) =>
  `00000000-0000-4000-8${round}${copy}0-${String(index).padStart(12, '0')}`;

/** The same `rows` rows (content varies with g only) for each copy's organizations. */
async function loadCopies(client: pg.Client, round: number, rows: number): Promise<void> {
  for (const copy of [1, 2]) {
    const orgs = Array.from({ length: ORGS_PER_COPY }, (_, index) => orgId(round, copy, index));
    await client.query(
      `insert into audit_logs (org_id, occurred_at, actor_type, actor_id, actor_email, action, resource_type, resource_id, details, ip_address, user_agent)
       select ($1::uuid[])[1 + g % ${ORGS_PER_COPY}], timestamptz '2026-01-01T00:00:00Z' + g * interval '1 ms',
              'agent', 'agent-' || (g % 1000), 'ops' || (g % 50) || '@example.com', 'telemetry.submitted', 'device', 'dev-' || (g % 5000),
              jsonb_build_object('n', g, 'status', 'ok', 'ratio', (g % 1000) / 7.0, 'metrics', jsonb_build_object('cpu', g % 100, 'mem', g % 64), 'tags', jsonb_build_array('a', 'b')),
              ('10.1.' || (g % 250) || '.' || (g % 200 + 1))::inet, 'agent/1.0'
         from generate_series(1, $2::int) g`,
      [orgs, rows],
    );
  }
  await client.query('analyze audit_logs');
}

async function sealCopy(pool: pg.Pool, round: number, copy: number, formatVersion: 1 | 2): Promise<{ rows: number; seconds: number }> {
  const started = performance.now();
  let rows = 0;
  for (let index = 0; index < ORGS_PER_COPY; index += 1) {
    const result = await sealChain(pool, orgId(round, copy, index), { batchSize: BATCH, formatVersion });
    if (result.status !== 'caught_up') throw new Error(`chain ${orgId(round, copy, index)}: ${result.status}`);
    rows += result.sealed;
  }
  return { rows, seconds: (performance.now() - started) / 1000 };
}

const fmt = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const formatV1V2Section: BenchSection = {
  id: 'format',
  title: 'Sealing under format v2 against v1',
  async run(options: BenchOptions): Promise<SectionReport> {
    const rows = options.quick ? 20_000 : 100_000;
    const rounds = options.rounds ?? (options.quick ? 2 : 4);
    const scratch = await createScratchDatabase(options.serverUrl, 'format');
    options.onCleanup(() => scratch.drop());
    await migrate(scratch.url);
    const client = new pg.Client({ connectionString: scratch.url, application_name: 'audit-chain bench' });
    await client.connect();
    const pool = createPool(scratch.url, { applicationName: 'audit-chain bench sealer', max: 2 });
    const results: { round: number; v1: number; v2: number }[] = [];
    try {
      for (let round = 1; round <= rounds; round += 1) {
        options.log(`round ${round}: loading ${fmt(rows)} rows twice (${ORGS_PER_COPY} organizations each)`);
        await loadCopies(client, round, rows);
        await client.query('checkpoint');
        await advanceHorizonAndDiscover(pool, new HorizonTracker());
        const order: (1 | 2)[] = round % 2 === 1 ? [1, 2] : [2, 1];
        const rate: Record<number, number> = {};
        for (const [position, version] of order.entries()) {
          const timed = await sealCopy(pool, round, position + 1, version);
          if (timed.rows !== rows) throw new Error(`sealed ${timed.rows} rows under v${version}, want ${rows}`);
          rate[version] = timed.rows / timed.seconds;
          options.log(`round ${round}: v${version} sealed ${fmt(timed.rows)} rows in ${timed.seconds.toFixed(2)} s`);
        }
        results.push({ round, v1: rate[1]!, v2: rate[2]! });
      }
      const versions = await client.query<{ checksum_version: number; n: string }>('select checksum_version, count(*)::text as n from audit_logs group by 1 order by 1');
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
      const v1 = median(results.map((r) => r.v1));
      const v2 = median(results.map((r) => r.v2));
      const targets: TargetCheck[] = [{ name: 'sealing under v2 no slower than v1 (median rows/s)', met: v2 >= v1, measured: `v2 ${fmt(v2)} rows/s, v1 ${fmt(v1)} rows/s (${fmt(v2 / v1, 2)} x)` }];
      const lines = [
        '## Sealing under format v2 against v1',
        '',
        `- Command: \`${options.command}\`; date ${new Date().toISOString()}`,
        `- Each round loads the same ${fmt(rows)} rows twice (jsonb details with nested objects, an inet, timestamps), each copy in ${ORGS_PER_COPY} organizations, then seals one copy under v1 and the other under v2 with \`sealChain\` (batches of ${fmt(BATCH)}, one chain at a time, in this process), alternating which format goes first. Rows per second from the first batch to the last commit.`,
        `- Rows by checksum_version afterwards: ${versions.rows.map((row) => `v${row.checksum_version} ${fmt(Number(row.n))}`).join(', ')}.`,
        '',
        '| round | first | v1 rows/s | v2 rows/s | v2 / v1 |',
        '| ---: | :---: | ---: | ---: | ---: |',
        ...results.map((r) => `| ${r.round} | v${r.round % 2 === 1 ? 1 : 2} | ${fmt(r.v1)} | ${fmt(r.v2)} | ${fmt(r.v2 / r.v1, 2)} |`),
        '',
        'Target (issue 11):',
        '',
        ...targets.map((target) => `- ${target.met ? 'PASS' : 'MISS'} ${target.name}: ${target.measured}`),
      ];
      return { markdown: lines.join('\n'), targets };
    } finally {
      await pool.end();
      await client.end();
    }
  },
};
