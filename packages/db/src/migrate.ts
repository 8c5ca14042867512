import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { CHAIN_SCHEMA } from './chain-schema.ts';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../drizzle', import.meta.url));

/** Our migration journal: drizzle's table, in our schema (a product's drizzle keeps `drizzle.__drizzle_migrations`). */
const JOURNAL_TABLE = '__drizzle_migrations';

/** Advisory lock key held while migrating, so concurrent `migrate` runs apply each migration once. */
const MIGRATION_LOCK_KEY = 7_461_001;

/** Role names by kind; each is read by the migration that creates that kind, the first time it runs. */
export interface RoleNames {
  writer?: string;
  sealer?: string;
  admin?: string;
  retention?: string;
  redactor?: string;
  signer?: string;
}

export interface MigrateResult {
  applied: string[];
}

/**
 * Applies pending migrations from drizzle/. Safe to run from several processes at
 * once: the first takes a session advisory lock, the others wait for it and then
 * find nothing left to do. Role names are read by the roles migration the first
 * time it runs (0003_roles.sql).
 */
export async function migrate(databaseUrl: string, roles: RoleNames = {}, options: { migrationsFolder?: string } = {}): Promise<MigrateResult> {
  // Another folder only in tests: an earlier release's journal, to check an upgrade from it.
  const folder = options.migrationsFolder ?? MIGRATIONS_FOLDER;
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'audit-chain migrate', connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    // Quiet the NOTICEs of IF NOT EXISTS in drizzle's own bookkeeping.
    await client.query("set client_min_messages = 'warning'");
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    for (const [kind, name] of Object.entries(roles)) {
      if (name) await client.query('select set_config($1, $2, false)', [`audit_chain.${kind}_role`, name]);
    }
    await client.query(`create schema if not exists ${CHAIN_SCHEMA}`);
    await moveJournalIntoChainSchema(client);
    // Every migration creates its objects in our schema (0021 moves those an
    // earlier release created elsewhere).
    await client.query(`set search_path = ${CHAIN_SCHEMA}`);
    const before = await appliedCount(client);
    // Loaded here, not at module load: see index.ts.
    const { drizzle } = await import('drizzle-orm/node-postgres');
    await drizzleMigrate(drizzle(client), { migrationsFolder: folder, migrationsSchema: CHAIN_SCHEMA, migrationsTable: JOURNAL_TABLE });
    const after = await appliedCount(client);
    return { applied: journalTags(folder).slice(before, after) };
  } finally {
    await client.query('select pg_advisory_unlock_all()').catch(() => {});
    await client.end();
  }
}

async function appliedCount(client: pg.Client): Promise<number> {
  const table = await client.query<{ present: boolean }>(
    `select to_regclass('${CHAIN_SCHEMA}.${JOURNAL_TABLE}') is not null as present`,
  );
  if (!table.rows[0]?.present) return 0;
  const result = await client.query<{ count: number }>(`select count(*)::int as count from ${CHAIN_SCHEMA}.${JOURNAL_TABLE}`);
  return result.rows[0]?.count ?? 0;
}

/**
 * Releases before our own schema kept the journal in drizzle's default
 * `drizzle.__drizzle_migrations`, which a product using drizzle shares. Our
 * entries (those whose hash is one of our migration files') move into
 * `audit_chain.__drizzle_migrations`, once, in one transaction; the product's
 * entries stay where they are, and an emptied `drizzle` table is dropped.
 */
async function moveJournalIntoChainSchema(client: pg.Client): Promise<void> {
  const state = await client.query<{ ours: boolean; theirs: boolean }>(
    `select to_regclass('${CHAIN_SCHEMA}.${JOURNAL_TABLE}') is not null as ours,
            to_regclass('drizzle.${JOURNAL_TABLE}') is not null as theirs`,
  );
  if (state.rows[0]?.ours || !state.rows[0]?.theirs) return;
  const hashes = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).map((migration) => migration.hash);
  await client.query('begin');
  try {
    await client.query(
      `create table ${CHAIN_SCHEMA}.${JOURNAL_TABLE} (id serial primary key, hash text not null, created_at bigint)`,
    );
    await client.query(
      `with moved as (delete from drizzle.${JOURNAL_TABLE} where hash = any($1::text[]) returning hash, created_at)
       insert into ${CHAIN_SCHEMA}.${JOURNAL_TABLE} (hash, created_at) select hash, created_at from moved order by created_at`,
      [hashes],
    );
    const left = await client.query<{ n: number }>(`select count(*)::int as n from drizzle.${JOURNAL_TABLE}`);
    if (left.rows[0]?.n === 0) {
      await client.query(`drop table drizzle.${JOURNAL_TABLE}`);
      const others = await client.query<{ n: number }>(
        "select count(*)::int as n from pg_class where relnamespace = 'drizzle'::regnamespace",
      );
      if (others.rows[0]?.n === 0) await client.query('drop schema drizzle');
    }
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  }
}

function journalTags(folder: string): string[] {
  const journal = JSON.parse(readFileSync(`${folder}/meta/_journal.json`, 'utf8')) as {
    entries: { tag: string }[];
  };
  return journal.entries.map((entry) => entry.tag);
}
