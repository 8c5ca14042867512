import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../drizzle', import.meta.url));

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
export async function migrate(databaseUrl: string, roles: RoleNames = {}): Promise<MigrateResult> {
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
    const before = await appliedCount(client);
    // Loaded here, not at module load: see index.ts.
    const { drizzle } = await import('drizzle-orm/node-postgres');
    await drizzleMigrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
    const after = await appliedCount(client);
    return { applied: journalTags().slice(before, after) };
  } finally {
    await client.query('select pg_advisory_unlock_all()').catch(() => {});
    await client.end();
  }
}

async function appliedCount(client: pg.Client): Promise<number> {
  const table = await client.query<{ present: boolean }>(
    "select to_regclass('drizzle.__drizzle_migrations') is not null as present",
  );
  if (!table.rows[0]?.present) return 0;
  const result = await client.query<{ count: number }>('select count(*)::int as count from drizzle.__drizzle_migrations');
  return result.rows[0]?.count ?? 0;
}

function journalTags(): string[] {
  const journal = JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as {
    entries: { tag: string }[];
  };
  return journal.entries.map((entry) => entry.tag);
}
