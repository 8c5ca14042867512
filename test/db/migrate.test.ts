// migrate() on fresh, empty databases: idempotent, safe when several processes
// run it at the same moment, and role names are configurable. Roles are
// cluster-wide, so the custom ones carry a per-run suffix and are dropped after.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, inject, test } from 'vitest';
import { MIGRATIONS_FOLDER, migrate, withChainSearchPath, withDatabaseName } from '@audit-chain/db';
import { withAdmin } from '../support/database.ts';
import { connectAs, expectSqlState, quoteIdent } from './helpers.ts';

const serverUrl = inject('serverUrl');
const databases: string[] = [];
const customRoles: string[] = [];

afterAll(async () => {
  await withAdmin(serverUrl, async (admin) => {
    for (const name of databases) await admin.query(`drop database if exists ${quoteIdent(name)} with (force)`);
    for (const role of customRoles) await admin.query(`drop role if exists ${quoteIdent(role)}`);
  });
});

const ALL_TAGS: string[] = (
  JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as { entries: { tag: string }[] }
).entries.map((entry) => entry.tag);

/** A new, empty database (not cloned from the migrated template). */
async function emptyDatabase(): Promise<string> {
  const name = `audit_chain_test_migrate_${randomBytes(5).toString('hex')}`;
  databases.push(name);
  await withAdmin(serverUrl, (admin) => admin.query(`create database ${quoteIdent(name)}`));
  return withDatabaseName(serverUrl, name);
}

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: withChainSearchPath(url) });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function recordedMigrations(url: string): Promise<number> {
  const rows = await query<{ n: number }>(url, 'select count(*)::int as n from audit_chain.__drizzle_migrations');
  return rows[0]!.n;
}

function uniqueRoles(): { writer: string; sealer: string; admin: string } {
  const suffix = randomBytes(4).toString('hex');
  const names = { writer: `acw_${suffix}`, sealer: `acs_${suffix}`, admin: `aca_${suffix}` };
  customRoles.push(names.writer, names.sealer, names.admin);
  return names;
}

test('applies every migration once and reports them; a second run has nothing to do', async () => {
  const url = await emptyDatabase();
  const first = await migrate(url);
  expect(first.applied).toEqual(ALL_TAGS);
  const second = await migrate(url);
  expect(second.applied).toEqual([]);
  expect(await recordedMigrations(url)).toBe(ALL_TAGS.length);
  const progress = await query<{ n: number }>(url, 'select count(*)::int as n from audit_chain_progress');
  expect(progress[0]!.n).toBe(1);
});

test('concurrent migrate() calls on one fresh database all succeed and apply each migration once', async () => {
  for (let round = 0; round < 3; round++) {
    const url = await emptyDatabase();
    const results = await Promise.all(Array.from({ length: 4 }, () => migrate(url)));
    // Exactly one run applied everything; the others found nothing left to do.
    const applied = results.map((result) => result.applied).sort((a, b) => b.length - a.length);
    expect(applied[0]).toEqual(ALL_TAGS);
    expect(applied.slice(1)).toEqual([[], [], []]);
    expect(await recordedMigrations(url)).toBe(ALL_TAGS.length);
    const triggers = await query<{ n: number }>(url, "select count(*)::int as n from pg_trigger where tgrelid = 'audit_logs'::regclass and not tgisinternal");
    // 0002's update, delete and truncate triggers, 0015's check of deleted rows against retention cuts,
    // and 0036's guard of sealed rows' chain columns.
    expect(triggers[0]!.n).toBe(5);
  }
});

test('concurrent migrate() calls on different databases may create the same roles at the same moment', async () => {
  const names = uniqueRoles();
  const urls = await Promise.all([emptyDatabase(), emptyDatabase(), emptyDatabase()]);
  const results = await Promise.all(urls.map((url) => migrate(url, names)));
  for (const result of results) expect(result.applied).toEqual(ALL_TAGS);
  for (const url of urls) {
    const recorded = await query<{ kind: string; role_name: string }>(url, "select kind, role_name from audit_chain_roles where kind in ('writer', 'sealer', 'admin')");
    expect(Object.fromEntries(recorded.map((row) => [row.kind, row.role_name]))).toEqual(names);
  }
});

test('role names are configurable: grants go to the named roles, not the defaults', async () => {
  const names = uniqueRoles();
  const url = await emptyDatabase();
  await migrate(url, names);

  const roles = await query<{ kind: string; role_name: string }>(url, 'select kind, role_name from audit_chain_roles order by kind');
  // retention and redactor (0014_lifecycle_roles) and signer (0035_checkpoint_signer) keep their default names here.
  expect(roles).toEqual([
    { kind: 'admin', role_name: names.admin },
    { kind: 'redactor', role_name: 'audit_chain_redactor' },
    { kind: 'retention', role_name: 'audit_chain_retention' },
    { kind: 'sealer', role_name: names.sealer },
    { kind: 'signer', role_name: 'audit_chain_signer' },
    { kind: 'writer', role_name: names.writer },
  ]);
  const created = await query<{ rolname: string; rolcanlogin: boolean }>(url, 'select rolname, rolcanlogin from pg_roles where rolname = any($1) order by rolname', [
    Object.values(names),
  ]);
  expect(created).toEqual(Object.values(names).sort().map((rolname) => ({ rolname, rolcanlogin: false })));

  const privileges = await query<Record<string, boolean>>(
    url,
    `select
       has_column_privilege($1, 'audit_logs', 'action', 'INSERT') as writer_inserts,
       has_column_privilege($1, 'audit_logs', 'chain_seq', 'INSERT') as writer_inserts_chain_seq,
       has_column_privilege($2, 'audit_logs', 'checksum', 'UPDATE') as sealer_seals,
       has_table_privilege($3, 'audit_logs', 'SELECT') as admin_reads,
       has_table_privilege($3, 'audit_logs', 'INSERT') as admin_inserts,
       has_table_privilege('audit_chain_writer', 'audit_logs', 'SELECT') as default_writer_reads,
       has_column_privilege('audit_chain_sealer', 'audit_logs', 'checksum', 'UPDATE') as default_sealer_seals`,
    [names.writer, names.sealer, names.admin],
  );
  expect(privileges[0]).toEqual({
    writer_inserts: true,
    writer_inserts_chain_seq: false,
    sealer_seals: true,
    admin_reads: true,
    admin_inserts: false,
    default_writer_reads: false,
    default_sealer_seals: false,
  });

  // And they work: the custom writer inserts, and is refused a chain column.
  const writer = await connectAs(url, names.writer);
  try {
    const inserted = await writer.query("insert into audit_logs (actor_type, action) values ('user', 'login') returning chain_seq");
    expect(inserted.rowCount).toBe(1);
    await expectSqlState(writer.query("insert into audit_logs (actor_type, action, checksum) values ('user', 'login', 'x')"), '42501');
  } finally {
    await writer.end();
  }

  // Re-running with other names changes nothing: the recorded names stay.
  const again = await migrate(url, uniqueRoles());
  expect(again.applied).toEqual([]);
  const after = await query<{ role_name: string }>(url, "select role_name from audit_chain_roles where kind = 'writer'");
  expect(after[0]!.role_name).toBe(names.writer);
});

// drizzle applies only the journal entries whose `when` is above the last one a
// database has applied, in journal order. So a migration added after a release
// must come after every entry of that release, with a larger `when`, and the
// search_path pass (0050's) must be repeated after it. Checked here on the
// journal itself and by upgrading a database from the last release's journal.
const JOURNAL = JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as { entries: { idx: number; tag: string; when: number }[] };
/** The last migration of the release before this one: a database may stand there. */
const LAST_RELEASED = '0060_function_search_path_repeat';

test('the journal: idx in order, `when` strictly increasing, and the last migration is the search_path pass', () => {
  expect(JOURNAL.entries.map((entry) => entry.idx)).toEqual(JOURNAL.entries.map((_, i) => i));
  for (let i = 1; i < JOURNAL.entries.length; i++) expect(JOURNAL.entries[i]!.when, JOURNAL.entries[i]!.tag).toBeGreaterThan(JOURNAL.entries[i - 1]!.when);
  const last = readFileSync(`${MIGRATIONS_FOLDER}/${JOURNAL.entries.at(-1)!.tag}.sql`, 'utf8');
  expect(last).toContain("EXECUTE format('ALTER FUNCTION %s SET search_path = audit_chain, pg_temp', r.fn)");
  expect(last).toContain("EXECUTE format('GRANT USAGE ON SCHEMA audit_chain TO %I', r.role_name)");
});

test('a database migrated by the last release gets every later migration, and every function its search_path', async () => {
  const cut = JOURNAL.entries.findIndex((entry) => entry.tag === LAST_RELEASED);
  expect(cut).toBeGreaterThan(0);
  const earlier = mkdtempSync(join(tmpdir(), 'audit-chain-release-'));
  try {
    mkdirSync(join(earlier, 'meta'));
    const released = JOURNAL.entries.slice(0, cut + 1);
    writeFileSync(join(earlier, 'meta', '_journal.json'), JSON.stringify({ ...JOURNAL, entries: released }));
    for (const entry of released) copyFileSync(`${MIGRATIONS_FOLDER}/${entry.tag}.sql`, join(earlier, `${entry.tag}.sql`));
    const url = await emptyDatabase();
    expect((await migrate(url, {}, { migrationsFolder: earlier })).applied).toEqual(released.map((entry) => entry.tag));
    const upgrade = await migrate(url);
    expect(upgrade.applied).toEqual(JOURNAL.entries.slice(cut + 1).map((entry) => entry.tag));
    expect(await recordedMigrations(url)).toBe(JOURNAL.entries.length);
    const missing = await query<{ fn: string }>(
      url,
      `select p.oid::regprocedure::text as fn from pg_proc p
        where p.pronamespace = 'audit_chain'::regnamespace and not coalesce('search_path=audit_chain, pg_temp' = any (p.proconfig), false)
          and p.prokind = 'f' and p.oid not in (select objid from pg_depend where deptype = 'e')`,
    );
    expect(missing).toEqual([]);
  } finally {
    rmSync(earlier, { recursive: true, force: true });
  }
});
