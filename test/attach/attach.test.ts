// `attach` on two fixture products modelled on real ones (product-tenant.ts,
// product-global.ts): each is forked first by 16 concurrent writers of its own
// code, then attached while its application keeps writing (and the attach is
// interrupted once and resumed). Afterwards every row is present and
// unchanged, the application's own drizzle INSERT and list SELECT work
// unchanged as its role, row-level security still isolates tenants, grants
// and policies of the product's roles are as they were, and existing rows are
// numbered in the chosen order.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { withDatabaseName } from '@audit-chain/db';
import { LIVE_SEQ_START, LifecycleError, attachTable, inspectTable } from '@audit-chain/lifecycle';
import { verifyAttachedTables } from '@audit-chain/verification';
import { main } from '../../apps/cli/src/main.ts';
import { createTestDatabase } from '../support/database.ts';
import { actAsTenant, newTenant, PRODUCT_COLUMNS, productDdl, productInsert, productList } from './product-tenant.ts';
import { PRODUCT2_COLUMNS, product2Ddl, product2Insert, product2List } from './product-global.ts';

const db = await createTestDatabase();
/** The product's own connections: a plain URL, so search_path is the product's ("$user", public). */
const productUrl = withDatabaseName(inject('serverUrl'), db.name);
const suffix = randomBytes(4).toString('hex');
const APP = `p1_app_${suffix}`;
const APP2 = `p2_app_${suffix}`;
const TENANTS = [newTenant(), newTenant(), newTenant()];

beforeAll(async () => {
  await db.pool.query(`create role "${APP}" nologin; create role "${APP2}" nologin`);
  await db.pool.query(productDdl(APP));
  await db.pool.query(product2Ddl(APP2));
});

afterAll(async () => {
  await db.pool.query(`drop owned by "${APP}"; drop owned by "${APP2}"; drop role "${APP}"; drop role "${APP2}"`).catch(() => {});
});

async function productClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: productUrl, application_name: 'fixture product' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** `writers` connections running `write` until `until()` holds; the errors they met. */
async function writeConcurrently(writers: number, setup: (client: pg.Client, w: number) => Promise<void>, write: (client: pg.Client, w: number, n: number) => Promise<void>, until: () => boolean): Promise<unknown[]> {
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const client = await productClient();
      try {
        await setup(client, w);
        for (let n = 0; !until() && errors.length === 0; n += 1) {
          try {
            await write(client, w, w * 100_000 + n);
          } catch (error) {
            errors.push(error);
          }
        }
      } finally {
        await client.end();
      }
    }),
  );
  return errors;
}

async function snapshot(table: string, columns: string[]): Promise<unknown[]> {
  const list = columns.map((name) => `"${name}"`).join(', ');
  return (await db.pool.query(`select ${list} from ${table} order by "id"`)).rows;
}

/** The ACL and column ACLs of `table`, without the entries of audit-chain's roles. */
async function productGrants(table: string): Promise<string[]> {
  const rows = await db.pool.query<{ entry: string }>(
    `select entry from (
       select ':' || acl::text as entry from pg_class c cross join lateral unnest(c.relacl) acl where c.oid = $1::regclass
       union all
       select a.attname || ':' || acl::text from pg_attribute a cross join lateral unnest(a.attacl) acl where a.attrelid = $1::regclass
     ) e where entry not like '%audit_chain_%' order by 1`,
    [table],
  );
  return rows.rows.map((row) => row.entry);
}

async function policies(table: string): Promise<unknown[]> {
  const [schema, name] = table.replaceAll('"', '').split('.');
  return (await db.pool.query('select policyname, roles, cmd, qual, with_check from pg_policies where schemaname = $1 and tablename = $2 and policyname not like $3 order by 1', [schema, name, 'audit\\_chain\\_%'])).rows;
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'audit-chain', ...args], {
    env: { DATABASE_URL: db.url },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

describe('product 1: trigger hashing, enum, timestamp without time zone, forced RLS, its own audit_logs', () => {
  let before: unknown[] = [];
  let grantsBefore: string[] = [];
  let policiesBefore: unknown[] = [];
  let liveWritten = 0;

  test('16 concurrent writers of the product fork its chain', async () => {
    let written = 0;
    const errors = await writeConcurrently(
      16,
      (client, w) => actAsTenant(client, APP, TENANTS[w % 2]!),
      async (client, w, n) => {
        await productInsert(client, TENANTS[w % 2]!, n, n % 4 === 0 ? 'unknown' : n % 4 === 1 ? undefined : `10.0.0.${n % 250}`);
        written += 1;
      },
      () => written >= 480,
    );
    expect(errors).toEqual([]);
    const forks = await db.pool.query<{ n: number }>('select count(*)::int as n from (select 1 from public.audit_logs group by org_id, prev_checksum having count(*) > 1) f');
    expect(forks.rows[0]!.n).toBeGreaterThan(0);
    const unknown = await db.pool.query<{ n: number }>("select count(*)::int as n from public.audit_logs where ip_address = 'unknown'");
    expect(unknown.rows[0]!.n).toBeGreaterThan(100);
    // The product's own verify function sees its forks (the chain it has is broken without any tampering).
    const client = await productClient();
    try {
      await actAsTenant(client, APP, TENANTS[0]!);
      const broken = await client.query('select * from audit_log_verify_chain($1)', [TENANTS[0]]);
      expect(broken.rows.length).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
    before = await snapshot('public.audit_logs', PRODUCT_COLUMNS);
    grantsBefore = await productGrants('public.audit_logs');
    policiesBefore = await policies('public.audit_logs');
  });

  test('the dry run says what it will do and changes nothing', async () => {
    const columnsBefore = (await inspectTable(db.pool, 'public.audit_logs')).columns;
    const result = await runCli(['attach', '--table', 'public.audit_logs', '--org-column', 'org_id', '--order-by', 'created_at', '--dry-run']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`table public.audit_logs: ${before.length} rows, 2 chains by org_id`);
    expect(result.stdout).toContain(`chain existing rows in order of (created_at, id), as chain_seq 1..${before.length}`);
    expect(result.stdout).toMatch(/drop hashing trigger audit_logs_hash .*BEFORE INSERT ON public\.audit_logs/);
    expect(result.stdout).toContain("found the trigger's hash column prev_checksum: covered as content");
    expect(result.stdout).toContain("found the trigger's hash column checksum: covered as content");
    expect(result.stdout).toContain('row-level security forced, policies kept as they are (1)');
    expect(result.stdout).toContain('every existing row can be sealed under this plan');
    expect((await inspectTable(db.pool, 'public.audit_logs')).columns).toEqual(columnsBefore);
    expect((await db.pool.query("select count(*)::int as n from audit_chain_tables where table_name = 'audit_logs' and schema_name = 'public'")).rows[0].n).toBe(0);
  });

  test('a plan with a problem is refused with one line, and nothing changes', async () => {
    const result = await runCli(['attach', '--table', 'public.audit_logs', '--org-column', 'tenant', '--exclude', 'nope']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('--org-column: audit_logs has no column tenant');
    expect(result.stderr).toContain('--exclude: audit_logs has no column nope');
    const dry = await runCli(['attach', '--table', 'public.audit_logs', '--pii', 'missing', '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain('problem: --pii: audit_logs has no column missing');
    expect((await inspectTable(db.pool, 'public.audit_logs')).triggers.map((trigger) => trigger.name)).toEqual(['audit_logs_hash']);
    expect(await snapshot('public.audit_logs', PRODUCT_COLUMNS)).toEqual(before);
  });

  test('attach while the application keeps writing, interrupted once and resumed', async () => {
    let stop = false;
    const live = writeConcurrently(
      8,
      (client, w) => actAsTenant(client, APP, TENANTS[w % 3]!),
      async (client, w, n) => {
        await productInsert(client, TENANTS[w % 3]!, n);
        liveWritten += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
      },
      () => stop,
    );
    try {
      const options = { table: 'public.audit_logs', orgColumn: 'org_id', orderBy: ['created_at'], pii: ['actor_id'], batchSize: 100, lockTimeoutMs: 500 };
      await expect(
        attachTable(db.pool, {
          ...options,
          onProgress: (progress) => {
            if (progress.step === 'number' && progress.numbered >= 200) throw new Error('interrupted');
          },
        }),
      ).rejects.toThrow('interrupted');
      // Started: another plan is refused, the same (or none) resumes.
      await expect(attachTable(db.pool, { ...options, orgColumn: 'actor_id' })).rejects.toThrow(LifecycleError);
      const resumed = await attachTable(db.pool, { table: 'public.audit_logs', batchSize: 100, lockTimeoutMs: 500 });
      expect(resumed.resumed).toBe(true);
      expect(resumed.done).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      stop = true;
    }
    expect(await live).toEqual([]);
    expect(liveWritten).toBeGreaterThan(0);
  });

  test('every row is present and unchanged; existing rows are numbered in the chosen order, live rows after them', async () => {
    const after = await snapshot('public.audit_logs', PRODUCT_COLUMNS);
    const byId = new Map(after.map((row) => [(row as { id: string }).id, row]));
    for (const row of before) expect(byId.get((row as { id: string }).id)).toEqual(row);
    expect(after.length).toBe(before.length + liveWritten);

    const numbered = await db.pool.query<{ id: string; seq: string }>('select id::text, audit_chain_seq::text as seq from public.audit_logs order by audit_chain_seq');
    const existing = numbered.rows.filter((row) => BigInt(row.seq) <= LIVE_SEQ_START);
    const ordered = await db.pool.query<{ id: string }>(
      `select id::text from public.audit_logs where id = any($1::uuid[]) order by created_at, id`,
      [existing.map((row) => row.id)],
    );
    // Rows written during the first step (before numbering began) are numbered with the existing ones.
    expect(existing.length).toBeGreaterThanOrEqual(before.length);
    expect(existing.map((row) => row.id)).toEqual(ordered.rows.map((row) => row.id));
    expect(existing.map((row) => Number(row.seq))).toEqual(existing.map((_, n) => n + 1));
    expect(new Set(numbered.rows.map((row) => row.seq)).size).toBe(numbered.rows.length);

    const column = await db.pool.query("select attidentity, attnotnull from pg_attribute where attrelid = 'public.audit_logs'::regclass and attname = 'audit_chain_seq'");
    expect(column.rows).toEqual([{ attidentity: 'a', attnotnull: true }]);
  });

  test('the hashing trigger is gone and kept; the registry holds the chain and its covered columns', async () => {
    const inspection = await inspectTable(db.pool, 'public.audit_logs');
    expect(inspection.triggers).toEqual([]);
    const registered = await db.pool.query(
      `select t.status, t.chain_key_column, t.order_by::text[] as order_by, t.seq_column, t.format_version, t.dropped_triggers->0->>'name' as dropped,
              t.dropped_triggers->0->>'definition' as definition, c.revision, c.covered
         from audit_chain_tables t join audit_chain_table_columns c on c.table_id = t.id
        where t.schema_name = 'public' and t.table_name = 'audit_logs'`,
    );
    expect(registered.rows).toHaveLength(1);
    const row = registered.rows[0];
    expect(row).toMatchObject({ status: 'attached', chain_key_column: 'org_id', order_by: ['created_at', 'id'], seq_column: 'audit_chain_seq', format_version: 2, dropped: 'audit_logs_hash', revision: 1 });
    expect(row.definition).toContain('EXECUTE FUNCTION audit_logs_hash()');
    expect(row.covered.map((column: { name: string }) => column.name)).toEqual(PRODUCT_COLUMNS);
    expect(row.covered.find((column: { name: string }) => column.name === 'actor_id').personal).toBe(true);
    expect(row.covered.find((column: { name: string }) => column.name === 'created_at').type).toBe('timestamp without time zone');
    expect(row.covered.find((column: { name: string }) => column.name === 'actor_type').type).toBe('audit_actor');
    // Our own table is one more chained table.
    const ours = await db.pool.query("select status, format_version from audit_chain_tables where schema_name = 'audit_chain' and table_name = 'audit_logs'");
    expect(ours.rows).toEqual([{ status: 'attached', format_version: 1 }]);
  });

  test("the application's drizzle INSERT and list SELECT work unchanged as its role, and RLS still isolates tenants", async () => {
    const client = await productClient();
    try {
      await actAsTenant(client, APP, TENANTS[0]!);
      await productInsert(client, TENANTS[0]!, 999_999);
      await productInsert(client, TENANTS[0]!, 999_998, 'unknown');
      const mine = await productList(client, TENANTS[0]!);
      expect(mine.length).toBeGreaterThan(2);
      expect(mine.every((row) => row.orgId === TENANTS[0])).toBe(true);
      expect(Object.keys(mine[0]!).sort()).toEqual(['action', 'actorId', 'actorType', 'checksum', 'createdAt', 'id', 'ipAddress', 'metadata', 'orgId', 'prevChecksum', 'resource']);
      // Another tenant's rows stay invisible, even asked for by id; writing for another tenant is refused.
      expect(await productList(client, TENANTS[1]!)).toEqual([]);
      const all = await client.query<{ n: number }>('select count(*)::int as n from audit_logs');
      expect(all.rows[0]!.n).toBe(mine.length);
      await expect(productInsert(client, TENANTS[1]!, 5)).rejects.toMatchObject({ cause: { code: '42501' } });
      // The application cannot write the chain: it has no UPDATE at all, and chain_seq is GENERATED ALWAYS.
      await expect(client.query('update audit_logs set audit_chain_checksum = null')).rejects.toMatchObject({ code: '42501' });
      await expect(client.query("insert into audit_logs (org_id, actor_type, action, audit_chain_seq) values ($1, 'user', 'x', 1)", [TENANTS[0]])).rejects.toMatchObject({ code: '428C9' });
      // Its own verify function, in its own schema, still answers.
      await client.query('select * from audit_log_verify_chain($1)', [TENANTS[0]]);
    } finally {
      await client.end();
    }
    const fresh = await db.pool.query<{ seq: string; checksum: string | null }>('select audit_chain_seq::text as seq, checksum from public.audit_logs where resource = $1', ['device-999999']);
    expect(BigInt(fresh.rows[0]!.seq)).toBeGreaterThan(LIVE_SEQ_START);
    // The product's trigger no longer hashes: its checksum column is plain content (NULL for new rows).
    expect(fresh.rows[0]!.checksum).toBeNull();
  });

  test("the product's grants and policies are exactly as they were; the sealer role reads every tenant's rows", async () => {
    expect(await productGrants('public.audit_logs')).toEqual(grantsBefore);
    expect(await policies('public.audit_logs')).toEqual(policiesBefore);
    const rls = await db.pool.query("select relrowsecurity, relforcerowsecurity from pg_class where oid = 'public.audit_logs'::regclass");
    expect(rls.rows).toEqual([{ relrowsecurity: true, relforcerowsecurity: true }]);
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query('set local role audit_chain_sealer');
      const seen = await client.query<{ n: number }>('select count(*)::int as n from public.audit_logs');
      const total = await db.pool.query<{ n: number }>('select count(*)::int as n from public.audit_logs');
      expect(seen.rows[0]!.n).toBe(total.rows[0]!.n);
      await client.query('update public.audit_logs set audit_chain_checksum = audit_chain_checksum where audit_chain_seq = 1');
      await expect(client.query("update public.audit_logs set action = 'x' where audit_chain_seq = 1")).rejects.toMatchObject({ code: '42501' });
    } finally {
      await client.query('rollback');
      client.release();
    }
  });

  test('seal --once seals every chain of the table, naming it; verify --all is clean', async () => {
    const sealed = await runCli(['seal', '--once', '--wait-ms', '5000']);
    expect(sealed.stderr).toBe('');
    expect(sealed.code).toBe(0);
    for (const tenant of TENANTS) expect(sealed.stdout).toMatch(new RegExp(`sealed \\d+ rows of public\\.audit_logs chain ${tenant} \\(watermark \\d+\\)`));
    const verified = await runCli(['verify', '--all', '--no-record']);
    expect(verified.code).toBe(0);
    const total = (await db.pool.query<{ n: number }>('select count(*)::int as n from public.audit_logs where org_id = $1', [TENANTS[0]])).rows[0]!.n;
    expect(verified.stdout).toContain(`public.audit_logs chain ${TENANTS[0]}: ${total} rows, ${total} sealed, 0 pending`);
    expect(verified.stdout).not.toContain('break ');
  });

  test('tampering with any covered column is caught, and only there', async () => {
    const victim = (await db.pool.query<{ seq: string }>('select audit_chain_seq::text as seq from public.audit_logs where org_id = $1 order by audit_chain_seq offset 7 limit 1', [TENANTS[1]])).rows[0]!.seq;
    const changes: [string, string][] = [
      ['action', "action || ' '"],
      ['actor_type', "'system'"],
      ['actor_id', "coalesce(actor_id, '') || 'x'"],
      ['ip_address', "'unknown '"],
      ['metadata', `metadata || '{"n": 1.0}'`],
      ['created_at', "created_at + interval '1 microsecond'"],
      ['resource', 'null'],
      ['checksum', "'forged'"],
    ];
    for (const [column, expression] of changes) {
      const original = await db.pool.query(`select ${column}::text as v from public.audit_logs where audit_chain_seq = $1`, [victim]);
      await db.pool.query(`update public.audit_logs set ${column} = ${expression} where audit_chain_seq = $1`, [victim]);
      const report = await verifyAttachedTables(db.pool);
      expect(report.breaks.map((found) => [found.kind, found.chainSeq, found.chain]), column).toEqual([['content_changed', victim, `public.audit_logs chain ${TENANTS[1]}`]]);
      await db.pool.query(`update public.audit_logs set ${column} = $2 where audit_chain_seq = $1`, [victim, original.rows[0].v]);
    }
    expect((await verifyAttachedTables(db.pool)).ok).toBe(true);
  });

  test('a column added to the table stops sealing with a clear message until attach --refresh; earlier rows keep verifying', async () => {
    await db.pool.query("alter table public.audit_logs add column severity text not null default 'info'");
    const client = await productClient();
    try {
      await actAsTenant(client, APP, TENANTS[2]!);
      await productInsert(client, TENANTS[2]!, 42);
    } finally {
      await client.end();
    }
    const stopped = await runCli(['seal', '--once', '--wait-ms', '5000']);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain('public.audit_logs: the table\'s columns changed (column severity (text) was added); sealing of its chains stops until `audit-chain attach --table public.audit_logs --refresh`');
    const report = await verifyAttachedTables(db.pool);
    expect(report.breaks.map((found) => found.kind)).toEqual(['drifted']);
    expect(report.chains.every((chain) => chain.pending <= 1)).toBe(true);

    const refreshed = await runCli(['attach', '--table', 'public.audit_logs', '--refresh']);
    expect(refreshed.code).toBe(0);
    expect(refreshed.stdout).toContain('recorded as revision 2');
    const sealed = await runCli(['seal', '--once', '--wait-ms', '5000']);
    expect(sealed.code).toBe(0);
    expect(sealed.stdout).toContain(`sealed 1 rows of public.audit_logs chain ${TENANTS[2]}`);
    expect((await verifyAttachedTables(db.pool)).ok).toBe(true);
    // The new column is covered for rows of the new revision.
    await db.pool.query("update public.audit_logs set severity = 'high' where resource = 'device-42' and org_id = $1", [TENANTS[2]]);
    expect((await verifyAttachedTables(db.pool)).breaks.map((found) => found.kind)).toEqual(['content_changed']);
    await db.pool.query("update public.audit_logs set severity = 'info' where resource = 'device-42' and org_id = $1", [TENANTS[2]]);
    const history = await db.pool.query("select c.revision, c.covered->-1->>'name' as last from audit_chain_table_columns c join audit_chain_tables t on t.id = c.table_id where t.schema_name = 'public' and t.table_name = 'audit_logs' order by 1");
    expect(history.rows).toEqual([{ revision: 1, last: 'checksum' }, { revision: 2, last: 'severity' }]);
  });

  test('attach of an attached table is refused', async () => {
    await expect(attachTable(db.pool, { table: 'public.audit_logs', dryRun: true })).rejects.toThrow(/attached already/);
  });
});

describe('product 2: cuid2 text ids, camelCase, 35 columns with jsonb snapshots, app-side hashing, one global chain', () => {
  let before: unknown[] = [];
  let grantsBefore: string[] = [];

  test('16 concurrent writers of the application fork its chain', async () => {
    let written = 0;
    const errors = await writeConcurrently(
      16,
      (client) => client.query(`set role "${APP2}"`).then(() => undefined),
      async (client, _w, n) => {
        await product2Insert(client, n);
        written += 1;
      },
      () => written >= 400,
    );
    expect(errors).toEqual([]);
    const forks = await db.pool.query<{ n: number }>('select count(*)::int as n from (select 1 from public."AuditLog" group by "previousLogHash" having count(*) > 1) f');
    expect(forks.rows[0]!.n).toBeGreaterThan(0);
    before = await snapshot('public."AuditLog"', PRODUCT2_COLUMNS);
    grantsBefore = await productGrants('public."AuditLog"');
    expect(PRODUCT2_COLUMNS.length).toBeGreaterThanOrEqual(35);
  });

  test('the dry run finds the application-side hash columns and no trigger', async () => {
    const result = await runCli(['attach', '--table', 'AuditLog', '--order-by', 'createdAt', '--dry-run']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`table public.AuditLog: ${before.length} rows, one chain for the whole table`);
    expect(result.stdout).toContain('no hashing trigger found');
    for (const name of ['previousLogHash', 'logHash', 'chainSeed']) {
      expect(result.stdout).toContain(`found application-side hash column ${name}: covered as content`);
    }
  });

  test('attach, with the application writing; then its rows, its writes and its reads are as before', async () => {
    let stop = false;
    let live = 0;
    const writers = writeConcurrently(
      4,
      (client) => client.query(`set role "${APP2}"`).then(() => undefined),
      async (client, _w, n) => {
        await product2Insert(client, 500_000 + n);
        live += 1;
      },
      () => stop,
    );
    let report;
    try {
      report = await attachTable(db.pool, { table: 'AuditLog', orderBy: ['createdAt'], exclude: ['chainSeed'], batchSize: 64, lockTimeoutMs: 500 });
    } finally {
      stop = true;
    }
    expect(await writers).toEqual([]);
    expect(report.plan.hashColumns).toEqual([
      { name: 'previousLogHash', treatment: 'covered', source: 'application' },
      { name: 'logHash', treatment: 'covered', source: 'application' },
      { name: 'chainSeed', treatment: 'excluded', source: 'application' },
    ]);
    const after = await snapshot('public."AuditLog"', PRODUCT2_COLUMNS);
    const byId = new Map(after.map((row) => [(row as { id: string }).id, row]));
    for (const row of before) expect(byId.get((row as { id: string }).id)).toEqual(row);
    expect(after.length).toBe(before.length + live);
    expect(await productGrants('public."AuditLog"')).toEqual(grantsBefore);

    const client = await productClient();
    try {
      await client.query(`set role "${APP2}"`);
      await product2Insert(client, 777_777);
      const listed = await product2List(client);
      expect(listed[0]).toMatchObject({ entityId: 'inv_777777' });
      expect(listed).toHaveLength(50);
    } finally {
      await client.end();
    }
    const numbered = await db.pool.query<{ n: number; max: string }>(
      `select count(*)::int as n, max("audit_chain_seq")::text as max from public."AuditLog" where "audit_chain_seq" <= $1`,
      [LIVE_SEQ_START.toString()],
    );
    expect(numbered.rows[0]!.n).toBe(Number(numbered.rows[0]!.max));
    const covered = await db.pool.query(`select c.covered from audit_chain_table_columns c join audit_chain_tables t on t.id = c.table_id where t.table_name = 'AuditLog'`);
    expect(covered.rows[0].covered.map((column: { name: string }) => column.name)).toEqual(PRODUCT2_COLUMNS.filter((name) => name !== 'chainSeed'));
  });
  test('sealed as one global chain; verify is clean; a changed jsonb snapshot is caught', async () => {
    const sealed = await runCli(['seal', '--once', '--wait-ms', '5000']);
    expect(sealed.code).toBe(0);
    expect(sealed.stdout).toMatch(/sealed \d+ rows of public\.AuditLog chain \(all rows\)/);
    const clean = await verifyAttachedTables(db.pool);
    expect(clean.breaks).toEqual([]);
    const status = await runCli(['status', '--window', '0']);
    expect(status.code).toBe(0);
    // Every chained table in status, every chain in lag, each named with its table.
    expect(status.stdout).toMatch(/^tables:\n {2}audit_chain\.audit_logs: /m);
    expect(status.stdout).toMatch(/ {2}public\.AuditLog: 0 pending \(0 held\) in 0 of 1 chains; \d+ sealed; caught up/);
    expect(status.stdout).toMatch(/ {2}public\.audit_logs: 0 pending \(0 held\) in 0 of \d+ chains; \d+ sealed; caught up/);
    const lag = await runCli(['lag', '--limit', '500']);
    expect(lag.stdout).toMatch(/^public\.AuditLog\s+all\s+0\s+0\s/m);
    expect(lag.stdout).toMatch(new RegExp(`^public\\.audit_logs\\s+${TENANTS[0]}\\s+0\\s+0\\s`, 'm'));
    const chain = clean.chains.find((found) => found.chain === 'public.AuditLog chain (all rows)')!;
    expect(chain.pending).toBe(0);
    expect(chain.sealed).toBe(chain.rows);
    const victim = (await db.pool.query<{ seq: string }>('select "audit_chain_seq"::text as seq from public."AuditLog" order by "audit_chain_seq" offset 3 limit 1')).rows[0]!.seq;
    await db.pool.query(`update public."AuditLog" set "afterSnapshot" = jsonb_set("afterSnapshot", '{note}', '"unicode"') where "audit_chain_seq" = $1`, [victim]);
    const tampered = await verifyAttachedTables(db.pool);
    expect(tampered.breaks.map((found) => [found.kind, found.chainSeq])).toEqual([['content_changed', victim]]);
    // chainSeed is excluded: changing it is not a break.
    const other = (await db.pool.query<{ seq: string }>('select "audit_chain_seq"::text as seq from public."AuditLog" order by "audit_chain_seq" offset 9 limit 1')).rows[0]!.seq;
    await db.pool.query('update public."AuditLog" set "chainSeed" = $2 where "audit_chain_seq" = $1', [other, 'other']);
    expect((await verifyAttachedTables(db.pool)).breaks.map((found) => [found.kind, found.chainSeq])).toEqual([['content_changed', victim]]);
  });
});
