// Part 1 of the benchmark: what the chain costs the writers. Every insert variant
// (insert-variants.ts) runs every workload (insert-workloads.ts) under pgbench
// with 32 clients, in one scratch database, interleaved over rounds.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '@audit-chain/db';
import { environmentMarkdown } from './environment.ts';
import { insertMarkdown, insertTargets, type InsertMeasurement } from './insert-path-report.ts';
import { INSERT_VARIANTS, findVariant, type InsertVariant } from './insert-variants.ts';
import { INSERT_WORKLOADS, type InsertWorkload } from './insert-workloads.ts';
import { findPgbench, pgbenchVersion, runPgbench } from './pgbench.ts';
import type { BenchOptions, BenchSection, SectionReport } from './section.ts';
import { createScratchDatabase } from './scratch-database.ts';

const CLIENTS = 32;
const THREADS = 2;

/**
 * Full: 5 rounds x 18 runs of 2 s, about 3.5 minutes. The machine's background
 * load comes in bursts, so more, shorter rounds give a steadier median than
 * fewer, longer ones. Quick: one round, under a minute.
 */
const FULL = { rounds: 5, seconds: 2 };
const QUICK = { rounds: 1, seconds: 2 };

export const insertPathSection: BenchSection = {
  id: 'insert',
  title: 'Insert path',
  run: runInsertPath,
};

async function runInsertPath(options: BenchOptions): Promise<SectionReport> {
  const pgbench = findPgbench();
  const version = await pgbenchVersion(pgbench);
  const defaults = options.quick ? QUICK : FULL;
  const rounds = options.rounds ?? defaults.rounds;
  const seconds = options.seconds ?? defaults.seconds;
  const variants = selectVariants(options.variants);
  const workloads = INSERT_WORKLOADS;

  const scratch = await createScratchDatabase(options.serverUrl, 'insert');
  options.onCleanup(() => scratch.drop());
  const scripts = mkdtempSync(join(tmpdir(), 'audit-chain-bench-'));
  options.onCleanup(async () => rmSync(scripts, { recursive: true, force: true }));
  const scriptPath = (variant: InsertVariant, workload: InsertWorkload) => join(scripts, `${variant.id}.${workload.id}.sql`);

  await migrate(scratch.url);
  const client = new pg.Client({ connectionString: scratch.url, application_name: 'audit-chain bench setup' });
  await client.connect();
  options.onCleanup(() => client.end());
  for (const variant of variants) {
    if (variant.install) await client.query(variant.install);
    for (const workload of workloads) writeFileSync(scriptPath(variant, workload), workload.script(variant.table));
  }
  const runs = rounds * variants.length * workloads.length;
  options.log(`${runs} runs of ${seconds} s (${rounds} rounds x ${variants.length} variants x ${workloads.length} workloads)`);

  const measure = async (variant: InsertVariant, workload: InsertWorkload, round: number): Promise<InsertMeasurement> => {
    await prepareRun(client, variant, options.log);
    let otherActiveSessions = 0;
    const sample = setTimeout(() => {
      void countOtherActiveSessions(client, scratch.name).then((count) => (otherActiveSessions = count), () => {});
    }, (seconds * 1000) / 2);
    const result = await runPgbench({
      pgbench,
      databaseUrl: scratch.url,
      scriptPath: scriptPath(variant, workload),
      clients: CLIENTS,
      threads: THREADS,
      seconds,
    }).finally(() => clearTimeout(sample));
    await checkRows(client, variant, result.transactions);
    return { round, variantId: variant.id, workloadId: workload.id, tps: result.tps, latencyMs: result.latencyMs, otherActiveSessions };
  };

  // Unrecorded: warms shared buffers, the catalog caches and pgbench itself.
  const [firstVariant, firstWorkload] = [variants[0], workloads[0]];
  if (firstVariant && firstWorkload) await measure(firstVariant, firstWorkload, -1);

  const measurements: InsertMeasurement[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = roundOrder(variants, round);
    for (const workload of workloads) {
      for (const variant of order) {
        const measurement = await measure(variant, workload, round);
        measurements.push(measurement);
        options.log(
          `round ${round + 1}/${rounds} ${workload.id.padEnd(16)} ${variant.id.padEnd(14)} ` +
            `${measurement.tps.toFixed(0).padStart(6)} tps` +
            (measurement.otherActiveSessions ? `  (${measurement.otherActiveSessions} other active sessions)` : ''),
        );
      }
    }
  }

  const exampleVariant = variants.find((v) => v.id === 'audit-chain') ?? variants[0];
  const input = {
    variants,
    workloads,
    measurements,
    rounds,
    seconds,
    clients: CLIENTS,
    threads: THREADS,
    pgbenchVersion: version,
    environmentMarkdown: environmentMarkdown(options.environment, options.command),
    exampleScript: exampleVariant && firstWorkload ? firstWorkload.script(exampleVariant.table) : '',
  };
  return { markdown: insertMarkdown(input), targets: insertTargets(input) };
}

/** Empties the variant's table and state, then checkpoints so no checkpoint lands inside a short run. */
async function prepareRun(client: pg.Client, variant: InsertVariant, log: (line: string) => void): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(variant.reset);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
  try {
    await client.query('CHECKPOINT');
  } catch (error) {
    log(`CHECKPOINT refused (${(error as Error).message}); runs may include a checkpoint`);
  }
}

/** Every committed transaction must have left its row: a variant that loses rows is not measuring an insert. */
async function checkRows(client: pg.Client, variant: InsertVariant, transactions: number): Promise<void> {
  const result = await client.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${variant.table}`);
  const count = result.rows[0]?.count ?? 0;
  if (count < transactions) {
    throw new Error(`${variant.table}: got ${count} rows after ${transactions} committed transactions, want at least ${transactions}`);
  }
}

async function countOtherActiveSessions(client: pg.Client, ownDatabase: string): Promise<number> {
  const result = await client.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND state <> 'idle' AND datname IS DISTINCT FROM $1 AND pid <> pg_backend_pid()`,
    [ownDatabase],
  );
  return result.rows[0]?.count ?? 0;
}

/** The targets compare against plain, so plain is always measured. */
function selectVariants(ids: string[] | undefined): InsertVariant[] {
  if (!ids) return INSERT_VARIANTS.filter((variant) => !variant.optIn);
  const wanted = new Set(['plain', ...ids]);
  return [...wanted].map(findVariant);
}

/**
 * The order of one workload's runs in a round. The 0.9 target compares the
 * project with plain, and the machine's background load changes from second to
 * second, so those two always run back to back (which goes first alternates);
 * the others, and the pair's place among them, rotate from round to round.
 */
export function roundOrder<T extends { id: string }>(variants: readonly T[], round: number): T[] {
  const pair = ['plain', 'audit-chain'].map((id) => variants.find((v) => v.id === id)).filter((v) => v !== undefined);
  if (pair.length < 2) return rotate(variants, round);
  const others = rotate(
    variants.filter((v) => !pair.includes(v)),
    round,
  );
  const at = round % (others.length + 1);
  return [...others.slice(0, at), ...(round % 2 === 0 ? pair : pair.reverse()), ...others.slice(at)];
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
