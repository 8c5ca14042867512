// Citus against one server, side by side in one run: the insert path
// (pgbench, single-row autocommit INSERTs into audit_logs: one hot
// organization, and 100 organizations) and sealing (one `sealOnce` over what
// the inserts left pending), on fresh databases of each.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5447/postgres \
//   CITUS_DATABASE_URL=postgres://postgres@127.0.0.1:5451/postgres \
//   node test/citus/bench.ts [--seconds 15] [--clients 16] [--rounds 2]
//
// Prints a markdown table (docs/scaling.md and docs/benchmarks.md keep the
// recorded one). The single server and the cluster share this machine's cores:
// what the table shows is the per-insert and per-row cost of the topology, not
// a speed-up.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPool, migrate } from '@audit-chain/db';
import { sealOnce } from '@audit-chain/sealing';
import { findPgbench, runPgbench } from '../bench/pgbench.ts';
import { INSERT_WORKLOADS } from '../bench/insert-workloads.ts';
import { createScratchDatabase } from '../bench/scratch-database.ts';
import { citusServerUrl, setupCitusDatabase } from './cluster.ts';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '15' }, clients: { type: 'string', default: '16' }, rounds: { type: 'string', default: '2' } },
});
const seconds = Number(args.seconds);
const clients = Number(args.clients);
const rounds = Number(args.rounds);
const singleUrl = process.env.DATABASE_URL;
if (!singleUrl) {
  console.error('bench: set DATABASE_URL to the single PostgreSQL server to compare with');
  process.exit(1);
}
const workloads = INSERT_WORKLOADS.filter((workload) => workload.id === 'hot-autocommit' || workload.id === 'orgs-autocommit');
const pgbench = findPgbench();
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-citus-bench-'));

interface Target {
  id: 'single' | 'citus';
  label: string;
  /** A fresh migrated (and, on Citus, distributed) database. */
  create(): Promise<{ url: string; drop(): Promise<void> }>;
}

const targets: Target[] = [
  {
    id: 'single',
    label: 'one server',
    create: async () => {
      const scratch = await createScratchDatabase(singleUrl, 'citus_compare');
      await migrate(scratch.url);
      return scratch;
    },
  },
  {
    id: 'citus',
    label: 'Citus: coordinator + 2 workers',
    create: async () => {
      const db = await setupCitusDatabase({ serverUrl: citusServerUrl() });
      return { url: db.url, drop: db.drop };
    },
  },
];

interface Measurement {
  target: Target['id'];
  workload: string;
  tps: number;
}
const inserts: Measurement[] = [];
const sealing: { target: Target['id']; rows: number; rowsPerSecond: number }[] = [];

try {
  for (let round = 1; round <= rounds; round += 1) {
    for (const target of round % 2 === 1 ? targets : [...targets].reverse()) {
      const db = await target.create();
      try {
        for (const workload of workloads) {
          const scriptPath = join(dir, `${workload.id}.sql`);
          writeFileSync(scriptPath, workload.script('audit_logs'));
          const result = await runPgbench({ pgbench, databaseUrl: db.url, scriptPath, clients, threads: 2, seconds });
          inserts.push({ target: target.id, workload: workload.id, tps: result.tps });
          console.error(`round ${round} ${target.id} ${workload.id}: ${result.tps.toFixed(0)} inserts/s`);
        }
        const pool = createPool(db.url, { applicationName: 'audit-chain citus bench', max: 4 });
        try {
          const started = performance.now();
          const result = await sealOnce(pool, { batchSize: 5000, waitMs: 10_000, pollMs: 20 });
          const elapsed = (performance.now() - started) / 1000;
          if (result.broken.length > 0) throw new Error(`sealing broke chains: ${result.broken.map((error) => error.message).join('; ')}`);
          sealing.push({ target: target.id, rows: result.sealed, rowsPerSecond: result.sealed / elapsed });
          console.error(`round ${round} ${target.id} sealing: ${result.sealed} rows in ${elapsed.toFixed(1)} s`);
        } finally {
          await pool.end();
        }
      } finally {
        await db.drop();
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const range = (values: number[]) => `${Math.min(...values).toFixed(0)} to ${Math.max(...values).toFixed(0)}`;
const lines = [
  `| what (median of ${rounds} interleaved rounds; range) | one server | Citus, coordinator + 2 workers | Citus / one server |`,
  '| --- | ---: | ---: | ---: |',
];
for (const workload of workloads) {
  const of = (target: Target['id']) => inserts.filter((m) => m.target === target && m.workload === workload.id).map((m) => m.tps);
  const single = of('single');
  const citus = of('citus');
  lines.push(
    `| single-row inserts/s, ${workload.label}, ${clients} clients | ${median(single).toFixed(0)} (${range(single)}) | ${median(citus).toFixed(0)} (${range(citus)}) | ${(median(citus) / median(single)).toFixed(2)} |`,
  );
}
const sealOf = (target: Target['id']) => sealing.filter((m) => m.target === target).map((m) => m.rowsPerSecond);
const sealedRows = (target: Target['id']) => sealing.filter((m) => m.target === target).map((m) => m.rows);
lines.push(
  `| sealing rows/s, one \`sealOnce\` over the rows above (${range(sealedRows('single'))} and ${range(sealedRows('citus'))} rows) | ${median(sealOf('single')).toFixed(0)} (${range(sealOf('single'))}) | ${median(sealOf('citus')).toFixed(0)} (${range(sealOf('citus'))}) | ${(median(sealOf('citus')) / median(sealOf('single'))).toFixed(2)} |`,
);
console.log(lines.join('\n'));
