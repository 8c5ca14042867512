// The insert path under the conditions an outside harness used (issue 14): the
// project's own insert section truncates the tables and checkpoints before
// every short run over the prepared protocol; here plain and audit-chain also
// run over the simple protocol, and on tables left to grow from run to run
// (never truncated, no checkpoint forced), each run 10 s, one hot organization,
// 32 clients, autocommit. Plain and audit-chain run back to back in every round
// (which goes first alternates), so each round's ratio compares runs under the
// same background load; the report gives the median of those ratios.
//
// `--variants` adds the decomposition variants of insert-variants.ts (each a
// copy of audit_logs' layout without one of the things the plain table lacks),
// run in the same rounds right after the pair, and reported against plain and
// against audit-chain-copy; `--conditions` picks conditions, e.g.
// `npm run bench -- --only insert-conditions --conditions simple-growing
// --variants audit-chain-copy,audit-chain-sequence-default --rounds 4`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '@audit-chain/db';
import { environmentMarkdown, loadAverage } from './environment.ts';
import { median } from './insert-path-report.ts';
import { DECOMPOSITION_VARIANT_IDS, findVariant, type InsertVariant } from './insert-variants.ts';
import { INSERT_WORKLOADS } from './insert-workloads.ts';
import { findPgbench, pgbenchVersion, runPgbench } from './pgbench.ts';
import type { BenchOptions, BenchSection, SectionReport, TargetCheck } from './section.ts';
import { createScratchDatabase } from './scratch-database.ts';

const CLIENTS = 32;
const THREADS = 2;
const RATIO_TARGET = 0.9;
const FULL = { rounds: 3, seconds: 10 };
const QUICK = { rounds: 1, seconds: 3 };

interface Condition {
  id: string;
  label: string;
  protocol: 'prepared' | 'simple';
  /** Truncate and checkpoint before each run (fresh), or let the tables grow. */
  fresh: boolean;
}

const CONDITIONS: readonly Condition[] = [
  { id: 'prepared-fresh', label: 'prepared protocol, emptied tables, checkpoint before each run', protocol: 'prepared', fresh: true },
  { id: 'simple-fresh', label: 'simple protocol, emptied tables, checkpoint before each run', protocol: 'simple', fresh: true },
  { id: 'prepared-growing', label: 'prepared protocol, tables growing from run to run', protocol: 'prepared', fresh: false },
  { id: 'simple-growing', label: 'simple protocol, tables growing from run to run', protocol: 'simple', fresh: false },
];

export interface Measurement {
  condition: string;
  round: number;
  variant: string;
  tps: number;
  rowsBefore: number;
  load: number;
}

export const insertConditionsSection: BenchSection = {
  id: 'insert-conditions',
  title: 'Insert path under other conditions',
  run: runInsertConditions,
};

async function runInsertConditions(options: BenchOptions): Promise<SectionReport> {
  const pgbench = findPgbench();
  const version = await pgbenchVersion(pgbench);
  const defaults = options.quick ? QUICK : FULL;
  const rounds = options.rounds ?? defaults.rounds;
  const seconds = options.seconds ?? defaults.seconds;
  const pair = [findVariant('plain'), findVariant('audit-chain')] as [InsertVariant, InsertVariant];
  const extras = selectExtras(options.variants);
  const variants = [...pair, ...extras];
  const conditions = selectConditions(options.conditions);
  const workload = INSERT_WORKLOADS.find((candidate) => candidate.id === 'hot-autocommit')!;

  const scratch = await createScratchDatabase(options.serverUrl, 'insert-conditions');
  options.onCleanup(() => scratch.drop());
  const scripts = mkdtempSync(join(tmpdir(), 'audit-chain-bench-conditions-'));
  options.onCleanup(async () => rmSync(scripts, { recursive: true, force: true }));
  await migrate(scratch.url);
  const client = new pg.Client({ connectionString: scratch.url, application_name: 'audit-chain bench setup' });
  await client.connect();
  options.onCleanup(() => client.end());
  for (const variant of variants) {
    if (variant.install) await client.query(variant.install);
    writeFileSync(join(scripts, `${variant.id}.sql`), workload.script(variant.table));
  }
  const reset = async (variant: InsertVariant) => {
    await client.query('BEGIN');
    await client.query(variant.reset);
    await client.query('COMMIT');
  };
  const rowsOf = async (variant: InsertVariant) => Number((await client.query<{ n: string }>(`select count(*) as n from ${variant.table}`)).rows[0]!.n);
  options.log(
    `${conditions.length * rounds * variants.length} runs of ${seconds} s (${conditions.length} conditions x ${rounds} rounds x ${variants.map((v) => v.id).join(', ')})`,
  );

  const measurements: Measurement[] = [];
  for (const condition of conditions) {
    // Growing tables start empty once, then keep every row of every run.
    if (!condition.fresh) for (const variant of variants) await reset(variant);
    for (let round = 0; round < rounds; round++) {
      const order = [...(round % 2 === 0 ? pair : [pair[1], pair[0]]), ...rotate(extras, round)];
      for (const variant of order) {
        if (condition.fresh) {
          await reset(variant);
          await client.query('CHECKPOINT').catch((error: Error) => options.log(`CHECKPOINT refused (${error.message})`));
        }
        const rowsBefore = await rowsOf(variant);
        const load = loadAverage();
        const result = await runPgbench({ pgbench, databaseUrl: scratch.url, scriptPath: join(scripts, `${variant.id}.sql`), clients: CLIENTS, threads: THREADS, seconds, protocol: condition.protocol });
        const rowsAfter = await rowsOf(variant);
        if (rowsAfter - rowsBefore < result.transactions) throw new Error(`${variant.table}: ${rowsAfter - rowsBefore} rows after ${result.transactions} committed transactions`);
        measurements.push({ condition: condition.id, round, variant: variant.id, tps: result.tps, rowsBefore, load });
        options.log(`${condition.id.padEnd(17)} round ${round + 1}/${rounds} ${variant.id.padEnd(28)} ${result.tps.toFixed(0).padStart(6)} tps (table had ${rowsBefore} rows, load ${load.toFixed(1)})`);
      }
    }
  }
  return report({ measurements, conditions, extras, rounds, seconds, version, environment: environmentMarkdown(options.environment, options.command) });
}

function selectConditions(ids: string[] | undefined): Condition[] {
  if (!ids) return [...CONDITIONS];
  return ids.map((id) => {
    const condition = CONDITIONS.find((candidate) => candidate.id === id);
    if (!condition) throw new Error(`unknown condition ${id}: want one of ${CONDITIONS.map((c) => c.id).join(', ')}`);
    return condition;
  });
}

/**
 * The decomposition variants named with --variants, in report order. The pair
 * is always measured; other known variants belong to the insert section (one
 * --variants serves every section of a run), and an unknown name is an error.
 */
export function selectExtras(ids: string[] | undefined): InsertVariant[] {
  const wanted = new Set(ids ?? []);
  for (const id of wanted) findVariant(id);
  return DECOMPOSITION_VARIANT_IDS.filter((id) => wanted.has(id)).map(findVariant);
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** Per round, tps(variant) / tps(baseline), for the rounds that measured both. */
export function pairedRatios(measurements: readonly Measurement[], condition: string, rounds: number, variant: string, baseline: string): number[] {
  const out: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const base = measurements.find((m) => m.condition === condition && m.round === round && m.variant === baseline);
    const other = measurements.find((m) => m.condition === condition && m.round === round && m.variant === variant);
    if (base && other) out.push(other.tps / base.tps);
  }
  return out;
}

function ratiosOf(measurements: readonly Measurement[], condition: string, rounds: number): number[] {
  return pairedRatios(measurements, condition, rounds, 'audit-chain', 'plain');
}

function report(input: {
  measurements: Measurement[];
  conditions: readonly Condition[];
  extras: readonly InsertVariant[];
  rounds: number;
  seconds: number;
  version: string;
  environment: string;
}): SectionReport {
  const { measurements, conditions, extras, rounds, seconds } = input;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const targets: TargetCheck[] = [];
  const rows = conditions.map((condition) => {
    const of = (variant: Measurement['variant']) => measurements.filter((m) => m.condition === condition.id && m.variant === variant);
    const ratios = ratiosOf(measurements, condition.id, rounds);
    const ratio = median(ratios);
    targets.push({ name: `audit-chain >= ${RATIO_TARGET} x plain, ${condition.label}`, met: ratio >= RATIO_TARGET, measured: `${ratio.toFixed(2)} x (rounds ${ratios.map((r) => r.toFixed(2)).join(', ')})` });
    const grown = Math.max(0, ...of('audit-chain').map((m) => m.rowsBefore), ...of('plain').map((m) => m.rowsBefore));
    return `| ${condition.label} | ${fmt(median(of('plain').map((m) => m.tps)))} | ${fmt(median(of('audit-chain').map((m) => m.tps)))} | ${ratio.toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(', ')}) | ${condition.fresh ? '0' : fmt(grown)} |`;
  });
  const loads = measurements.map((m) => m.load);
  const markdown = [
    '## Insert path under other conditions',
    '',
    input.environment,
    `- Load: ${input.version}, \`pgbench --no-vacuum --protocol=<prepared|simple> --client=${CLIENTS} --jobs=${THREADS} --time=${seconds}\`, one hot organization, autocommit (the insert section's script); ${rounds} round(s) per condition, plain and audit-chain back to back in each (alternating which goes first).`,
    `- Machine load average (1 min) at the start of the runs: ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)}.`,
    '',
    'Median transactions per second; the ratio is the median of the per-round ratios audit-chain / plain (each round in parentheses). "Largest table" is the row count a growing table had before its last run.',
    '',
    '| condition | plain tps | audit-chain tps | audit-chain / plain | largest table before a run (rows) |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    'Targets (issue 14):',
    '',
    ...targets.map((target) => `- ${target.met ? 'PASS' : 'MISS'} ${target.name}: ${target.measured}`),
    '',
    ...decompositionMarkdown(measurements, conditions, extras, rounds),
    '### Every run',
    '',
    '| condition | round | variant | tps | table rows before | load |',
    '| --- | ---: | --- | ---: | ---: | ---: |',
    ...measurements.map((m) => `| ${m.condition} | ${m.round + 1} | ${m.variant} | ${fmt(m.tps)} | ${fmt(m.rowsBefore)} | ${m.load.toFixed(1)} |`),
    '',
  ].join('\n');
  return { markdown, targets };
}

/** The --variants rows: each decomposition variant against plain and against audit-chain-copy, per condition. */
function decompositionMarkdown(
  measurements: readonly Measurement[],
  conditions: readonly Condition[],
  extras: readonly InsertVariant[],
  rounds: number,
): string[] {
  if (extras.length === 0) return [];
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const ratio = (variant: string, condition: string, baseline: string) => {
    const ratios = pairedRatios(measurements, condition, rounds, variant, baseline);
    return ratios.length === 0 ? 'n/a' : `${median(ratios).toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(', ')})`;
  };
  const hasCopy = extras.some((v) => v.id === 'audit-chain-copy');
  const rows = conditions.flatMap((condition) =>
    [findVariant('audit-chain'), ...extras].map((variant) => {
      const tps = median(measurements.filter((m) => m.condition === condition.id && m.variant === variant.id).map((m) => m.tps));
      const toCopy = hasCopy && variant.id !== 'audit-chain-copy' ? ratio(variant.id, condition.id, 'audit-chain-copy') : '';
      return `| ${condition.id} | ${variant.id} | ${fmt(tps)} | ${ratio(variant.id, condition.id, 'plain')} | ${toCopy} |`;
    }),
  );
  return [
    '### Decomposition (--variants)',
    '',
    'Each variant is a copy of audit_logs\' layout without one thing (insert-variants.ts); medians of per-round ratios. ' +
      'Against the copy, a ratio above 1 is what that one thing costs audit_logs; the extras run after the pair in each ' +
      'round, so their ratios to plain are less tightly paired than audit-chain\'s.',
    '',
    ...extras.map((variant) => `- \`${variant.id}\`: ${variant.notes}`),
    '',
    '| condition | variant | tps | / plain | / audit-chain-copy |',
    '| --- | --- | ---: | ---: | ---: |',
    ...rows,
    '',
  ];
}
