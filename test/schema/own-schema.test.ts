// Everything audit-chain creates lives in the schema audit_chain (0021_own_schema):
// a fresh install next to a product's own public.audit_logs and
// public.audit_log_verify_chain(uuid) works and leaves them alone; an install
// made by an earlier release (objects in public, journal in drizzle's schema)
// moves in place, its rows, grants, sequences and triggers intact.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator';
import { drizzle } from 'drizzle-orm/node-postgres';
import { afterAll, expect, inject, test } from 'vitest';
import { MIGRATIONS_FOLDER, createPool, migrate, withDatabaseName } from '@audit-chain/db';
import { sealOnce } from '@audit-chain/sealing';
import { connect, withAdmin } from '../support/database.ts';
import { insertRows } from '../support/audit-rows.ts';
import { checkAllChains } from '../support/chain-check.ts';

const serverUrl = inject('serverUrl');
const ALL_TAGS = (JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as { entries: { tag: string }[] }).entries.map((entry) => entry.tag);
const databases: string[] = [];

afterAll(async () => {
  await withAdmin(serverUrl, async (admin) => {
    for (const name of databases) await admin.query(`drop database if exists ${name} with (force)`);
  });
});

async function emptyDatabase(): Promise<string> {
  const name = `audit_chain_test_schema_${randomBytes(5).toString('hex')}`;
  databases.push(name);
  await withAdmin(serverUrl, (admin) => admin.query(`create database ${name}`));
  return withDatabaseName(serverUrl, name);
}

/** A plain connection, as the product (or psql) has it: search_path "$user", public. */
async function plain<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

test('a fresh install beside a product with its own audit_logs and audit_log_verify_chain(uuid)', async () => {
  const url = await emptyDatabase();
  await plain(url, (client) =>
    client.query(`
      create table public.audit_logs (id serial primary key, org uuid not null, what text not null);
      create function public.audit_log_verify_chain(p uuid) returns text language sql as $$ select 'product' $$;
      insert into public.audit_logs (org, what) values ('${randomUUID()}', 'product row');
      create table drizzle_probe (x int);`),
  );
  // The product's drizzle keeps its own journal in drizzle.__drizzle_migrations.
  await plain(url, (client) =>
    client.query(`create schema drizzle; create table drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint);
                  insert into drizzle.__drizzle_migrations (hash, created_at) values ('product-hash', 1)`),
  );
  const result = await migrate(url);
  expect(result.applied).toEqual(ALL_TAGS);

  await plain(url, async (client) => {
    const ours = await client.query<{ schema: string; kind: string; n: number }>(
      `select n.nspname as schema, c.relkind::text as kind, count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' group by 1, 2 order by 2`,
    );
    // Only the product's objects in public: its table (+ sequence, index) and the probe.
    expect(ours.rows.map((row) => `${row.kind}:${row.n}`)).toEqual(['S:1', 'i:1', 'r:2']);
    expect((await client.query('select public.audit_log_verify_chain(null) as v')).rows).toEqual([{ v: 'product' }]);
    expect((await client.query('select what from public.audit_logs')).rows).toEqual([{ what: 'product row' }]);
    expect((await client.query('select hash from drizzle.__drizzle_migrations')).rows).toEqual([{ hash: 'product-hash' }]);
    const journal = await client.query<{ n: number }>('select count(*)::int as n from audit_chain.__drizzle_migrations');
    expect(journal.rows[0]!.n).toBe(result.applied.length);
    // From psql, our function is reached by its schema; it finds our objects whatever the caller's path.
    const breaks = await client.query('select * from audit_chain.audit_log_verify_chain(null)');
    expect(breaks.rows).toEqual([]);
  });

  // Our connections see our audit_logs, never the product's.
  const pool = createPool(url, { applicationName: 'audit-chain test' });
  try {
    await insertRows(pool, randomUUID(), 3);
    const sealed = await sealOnce(pool, { batchSize: 100, waitMs: 5000, pollMs: 20 });
    expect(sealed.chains.reduce((n, chain) => n + chain.sealed, 0)).toBe(3);
    const check = await checkAllChains(pool);
    expect(check.problems).toEqual([]);
    expect(check.sealed).toBe(3);
  } finally {
    await pool.end();
  }
  expect((await migrate(url)).applied).toEqual([]);
});

test('an install made by an earlier release (objects in public, journal in drizzle) moves in place', async () => {
  const url = await emptyDatabase();
  // The earlier release: migrations 0000-0020, run with search_path public and drizzle's default journal.
  const folder = mkdtempSync(join(tmpdir(), 'audit-chain-old-migrations-'));
  try {
    cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
    const journal = JSON.parse(readFileSync(join(folder, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
    const old = journal.entries.findIndex((entry) => entry.tag === '0021_own_schema');
    writeFileSync(join(folder, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: journal.entries.slice(0, old) }));
    await plain(url, (client) => drizzleMigrate(drizzle(client), { migrationsFolder: folder }));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  const org = randomUUID();
  await plain(url, async (client) => {
    await client.query(`insert into public.audit_logs (org_id, actor_type, action) select $1, 'user', 'before.' || g from generate_series(1, 5) g`, [org]);
  });
  const before = await plain(url, (client) => client.query('select id::text, action, chain_seq::text from public.audit_logs order by chain_seq'));
  const writer = await plain(url, (client) => client.query<{ privilege_type: string; column_name: string }>(
    `select privilege_type, column_name from information_schema.column_privileges
      where table_name = 'audit_logs' and grantee = 'audit_chain_writer' order by 1, 2`,
  ));

  const result = await migrate(url);
  expect(result.applied).toEqual(ALL_TAGS.slice(ALL_TAGS.indexOf('0021_own_schema')));

  await plain(url, async (client) => {
    const leftInPublic = await client.query(`select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace
      union all select p.proname from pg_proc p where p.pronamespace = 'public'::regnamespace`);
    expect(leftInPublic.rows).toEqual([]);
    expect((await client.query("select to_regnamespace('drizzle') as s")).rows).toEqual([{ s: null }]);
    const journal = await client.query<{ n: number }>('select count(*)::int as n from audit_chain.__drizzle_migrations');
    expect(journal.rows[0]!.n).toBe(ALL_TAGS.length);
    const after = await client.query('select id::text, action, chain_seq::text from audit_chain.audit_logs order by chain_seq');
    expect(after.rows).toEqual(before.rows);
    const grants = await client.query(
      `select privilege_type, column_name from information_schema.column_privileges
        where table_schema = 'audit_chain' and table_name = 'audit_logs' and grantee = 'audit_chain_writer' order by 1, 2`,
    );
    // The same column grants, except INSERT of recorded_at, which 0035 takes from the writer (the server assigns it).
    expect(grants.rows).toEqual(writer.rows.filter((row: { column_name: string; privilege_type: string }) => !(row.column_name === 'recorded_at' && row.privilege_type === 'INSERT')));
    const paths = await client.query<{ proname: string; proconfig: string[] | null }>(
      "select proname, proconfig from pg_proc where pronamespace = 'audit_chain'::regnamespace",
    );
    expect(paths.rows.length).toBeGreaterThan(10);
    for (const row of paths.rows) expect(row.proconfig).toEqual(['search_path=audit_chain, pg_temp']);
    // Triggers moved with the table: content stays append-only.
    await expect(client.query('update audit_chain.audit_logs set action = $1', ['changed'])).rejects.toMatchObject({ code: 'AC001' });
  });

  // The writer role (USAGE on the new schema) inserts through our search_path; the identity keeps counting.
  const writerClient = await connect(url);
  try {
    await writerClient.query('set role audit_chain_writer');
    const inserted = await writerClient.query<{ chain_seq: string }>(
      "insert into audit_logs (org_id, actor_type, action) values ($1, 'user', 'after') returning chain_seq::text",
      [org],
    );
    expect(BigInt(inserted.rows[0]!.chain_seq)).toBeGreaterThan(BigInt(before.rows.at(-1)!.chain_seq));
  } finally {
    await writerClient.end();
  }
  const pool = createPool(url, { applicationName: 'audit-chain test' });
  try {
    const sealed = await sealOnce(pool, { batchSize: 100, waitMs: 5000, pollMs: 20 });
    expect(sealed.chains.reduce((n, chain) => n + chain.sealed, 0)).toBe(6);
    const check = await checkAllChains(pool);
    expect(check.problems).toEqual([]);
  } finally {
    await pool.end();
  }
});
