// The insert path of a table chained in place with `audit-chain attach` (issue
// 11's target: within 0.9 of the same table without a chain). One scratch
// database holds three copies of a product's audit table (modelled on
// test/attach/product-tenant.ts): the floor (no trigger, no chain), the product
// as it is today (its BEFORE INSERT hashing trigger), and the same table after
// attachTable, the function `audit-chain attach` runs. pgbench writes the
// product's own INSERT (DEFAULT for id, ip_address, created_at and its
// checksum columns, as drizzle sends it) to each, in alternating rounds. No
// worker runs: rows stay pending, so this is the writers' cost only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createPool, migrate } from '@audit-chain/db';
import { attachTable } from '@audit-chain/lifecycle';
import { environmentMarkdown } from './environment.ts';
import { median } from './insert-path-report.ts';
import { roundOrder } from './insert-path.ts';
import { findPgbench, pgbenchVersion, runPgbench } from './pgbench.ts';
import type { BenchOptions, BenchSection, SectionReport } from './section.ts';
import { createScratchDatabase } from './scratch-database.ts';

const CLIENTS = 8;
const THREADS = 2;
const RATIO_TARGET = 0.9;
const FULL = { rounds: 3, seconds: 3 };
const QUICK = { rounds: 1, seconds: 2 };

interface Variant {
  /** 'plain' and 'audit-chain' so roundOrder runs the floor and the attached table back to back. */
  id: 'plain' | 'product-trigger' | 'audit-chain';
  label: string;
  table: string;
  hashingTrigger: boolean;
  attach: boolean;
}

const VARIANTS: readonly Variant[] = [
  { id: 'plain', label: 'floor: the table, no trigger, no chain', table: 'public.bench_floor', hashingTrigger: false, attach: false },
  { id: 'product-trigger', label: "today: the product's BEFORE INSERT hashing trigger", table: 'public.bench_product', hashingTrigger: true, attach: false },
  { id: 'audit-chain', label: 'attached: the same table after `audit-chain attach`', table: 'public.bench_attached', hashingTrigger: true, attach: true },
];

export const attachInsertSection: BenchSection = {
  id: 'attach-insert',
  title: 'Insert path of an attached table',
  run: runAttachInsert,
};

/** The product's audit table and, if asked, its hashing trigger (product-tenant.ts, under another name, without RLS). */
function productTable(qualified: string, hashingTrigger: boolean): string {
  const name = qualified.replace(/^public\./, '');
  const table = `
    create table ${qualified} (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null,
      actor_type public.bench_actor not null,
      actor_id text,
      action text not null,
      resource text,
      ip_address text not null default 'unknown',
      metadata jsonb,
      created_at timestamp without time zone not null default now(),
      prev_checksum text,
      checksum text
    );
    create index ${name}_org_created_idx on ${qualified} (org_id, created_at desc);`;
  if (!hashingTrigger) return table;
  return `${table}
    create function public.${name}_hash() returns trigger language plpgsql as $$
    declare prev text;
    begin
      select checksum into prev from ${qualified} where org_id = new.org_id order by created_at desc, id desc limit 1;
      new.prev_checksum := coalesce(prev, 'genesis');
      new.checksum := encode(sha256(convert_to(concat_ws('|', new.prev_checksum, new.id, new.org_id, new.actor_type, new.action,
                        new.resource, new.ip_address, new.metadata::text, new.created_at), 'UTF8')), 'hex');
      return new;
    end $$;
    create trigger ${name}_hash before insert on ${qualified} for each row execute function public.${name}_hash();`;
}

/** The product's write as drizzle sends it, for 100 organizations. */
function insertScript(table: string): string {
  return [
    '\\set org random(1, 100)',
    '\\set n random(1, 100000)',
    `INSERT INTO ${table} (id, org_id, actor_type, actor_id, action, resource, ip_address, metadata, created_at, prev_checksum, checksum) ` +
      `VALUES (DEFAULT, ('00000000-0000-0000-0000-' || lpad(:org::text, 12, '0'))::uuid, 'user', 'u-' || (:n::int % 7), 'patch.status', ` +
      `'device-' || :n::int, DEFAULT, jsonb_build_object('n', :n::int, 'ok', true), DEFAULT, DEFAULT, DEFAULT);`,
    '',
  ].join('\n');
}

interface Measurement {
  round: number;
  variantId: Variant['id'];
  tps: number;
}

async function runAttachInsert(options: BenchOptions): Promise<SectionReport> {
  const pgbench = findPgbench();
  const version = await pgbenchVersion(pgbench);
  const defaults = options.quick ? QUICK : FULL;
  const rounds = options.rounds ?? defaults.rounds;
  const seconds = options.seconds ?? defaults.seconds;

  const scratch = await createScratchDatabase(options.serverUrl, 'attach');
  options.onCleanup(() => scratch.drop());
  const scripts = mkdtempSync(join(tmpdir(), 'audit-chain-bench-attach-'));
  options.onCleanup(async () => rmSync(scripts, { recursive: true, force: true }));

  await migrate(scratch.url);
  const client = new pg.Client({ connectionString: scratch.url, application_name: 'audit-chain bench setup' });
  await client.connect();
  options.onCleanup(() => client.end());
  await client.query("create type public.bench_actor as enum ('user', 'agent', 'system')");
  for (const variant of VARIANTS) {
    await client.query(productTable(variant.table, variant.hashingTrigger));
    // A few existing rows per organization, as a product attaching its table has.
    await client.query(
      `insert into ${variant.table} (org_id, actor_type, action, resource, metadata)
       select ('00000000-0000-0000-0000-' || lpad((1 + n % 100)::text, 12, '0'))::uuid, 'user', 'seed', 'device-' || n, jsonb_build_object('n', n)
         from generate_series(1, 1000) as n`,
    );
    writeFileSync(join(scripts, `${variant.id}.sql`), insertScript(variant.table));
  }
  const attached = VARIANTS.find((variant) => variant.attach)!;
  const pool = createPool(scratch.url, { applicationName: 'audit-chain bench attach', max: 2 });
  let seqColumn: string;
  try {
    const report = await attachTable(pool, { table: attached.table, orgColumn: 'org_id', orderBy: ['created_at', 'id'] });
    seqColumn = report.plan.chainColumns.seq;
    options.log(`attached ${attached.table}: ${report.plan.dropTriggers.length} hashing trigger(s) dropped, chain_seq column ${seqColumn}`);
  } finally {
    await pool.end();
  }
  const triggers = await client.query<{ count: number }>(
    'select count(*)::int as count from pg_trigger where tgrelid = $1::regclass and not tgisinternal',
    [attached.table],
  );
  options.log(`${attached.table} keeps ${triggers.rows[0]?.count ?? 0} trigger(s) after attach`);

  const count = async (table: string) => (await client.query<{ count: number }>(`select count(*)::int as count from ${table}`)).rows[0]?.count ?? 0;
  const measure = async (variant: Variant, round: number): Promise<Measurement> => {
    await client.query('CHECKPOINT').catch((error: Error) => options.log(`CHECKPOINT refused (${error.message})`));
    const before = await count(variant.table);
    const result = await runPgbench({ pgbench, databaseUrl: scratch.url, scriptPath: join(scripts, `${variant.id}.sql`), clients: CLIENTS, threads: THREADS, seconds });
    const added = (await count(variant.table)) - before;
    if (added < result.transactions) throw new Error(`${variant.table}: ${added} new rows after ${result.transactions} committed inserts`);
    return { round, variantId: variant.id, tps: result.tps };
  };

  // Unrecorded warm-up of every table.
  for (const variant of VARIANTS) await measure(variant, -1);
  const measurements: Measurement[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const variant of roundOrder(VARIANTS, round)) {
      const measurement = await measure(variant, round);
      measurements.push(measurement);
      options.log(`round ${round + 1}/${rounds} ${variant.id.padEnd(16)} ${measurement.tps.toFixed(0).padStart(6)} rows/s`);
    }
  }
  const unsequenced = await client.query<{ count: number }>(`select count(*)::int as count from ${attached.table} where "${seqColumn}" is null`);
  if ((unsequenced.rows[0]?.count ?? 0) > 0) throw new Error(`${attached.table}: ${unsequenced.rows[0]?.count} rows without ${seqColumn}`);

  const tpsOf = (id: Variant['id']) => median(measurements.filter((m) => m.variantId === id).map((m) => m.tps));
  // Each round's ratio compares runs taken back to back, under about the same background load.
  const roundRatios = (id: Variant['id']) =>
    Array.from({ length: rounds }, (_, round) => {
      const of = (v: Variant['id']) => measurements.find((m) => m.round === round && m.variantId === v)?.tps ?? Number.NaN;
      return of(id) / of('plain');
    });
  const roundRatio = (id: Variant['id']) => median(roundRatios(id));
  const ratio = roundRatio('audit-chain');
  const met = ratio >= RATIO_TARGET;
  const rows = VARIANTS.map((variant) => {
    const perRound = measurements.filter((m) => m.variantId === variant.id).map((m) => m.tps.toFixed(0)).join(', ');
    const ratios = variant.id === 'plain' ? '' : roundRatios(variant.id).map((r) => r.toFixed(2)).join(', ');
    return `| ${variant.label} | ${tpsOf(variant.id).toFixed(0)} | ${variant.id === 'plain' ? '1.00' : roundRatio(variant.id).toFixed(2)} | ${perRound} | ${ratios} |`;
  });
  const markdown = [
    '## Insert path of an attached table',
    '',
    environmentMarkdown(options.environment, options.command),
    `- ${version}; ${CLIENTS} clients, ${THREADS} threads, ${rounds} rounds of ${seconds} s per variant, variants alternating (the floor and the attached table back to back); median over rounds`,
    '',
    "Three copies of a product's audit table (test/attach/product-tenant.ts: uuid id, enum, text IP, jsonb, `timestamp`, its own",
    '`checksum`/`prev_checksum`, index on (org_id, created_at desc)), 1,000 existing rows each, written with the product\'s',
    'own INSERT (DEFAULT for id, ip_address, created_at and the checksum columns) for 100 organizations, autocommit.',
    'The attached table went through `attachTable` (what `audit-chain attach --table ... --org-column org_id --order-by created_at,id` runs);',
    'no worker ran, so its rows stay pending and this is the writers\' cost only.',
    '',
    '| variant | rows/s (median) | x floor (median of per-round ratios) | rows/s per round | x floor per round |',
    '|---|---:|---:|---|---|',
    ...rows,
    '',
    `Target (issue 11): attached >= ${RATIO_TARGET} x floor: **${met ? 'met' : 'missed'}** (median ${ratio.toFixed(2)}; ` +
      `per-round ratios from ${Math.min(...roundRatios('audit-chain')).toFixed(2)} to ${Math.max(...roundRatios('audit-chain')).toFixed(2)}: ` +
      `with ${rounds} short rounds on a shared machine the spread is wide, so read the median as an estimate, not a bound).`,
  ].join('\n');
  return { markdown, targets: [{ name: `attached table >= ${RATIO_TARGET} x the same table without a chain`, met, measured: ratio.toFixed(2) }] };
}
