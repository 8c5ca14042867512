// Each role may do exactly its job (0003_roles): the writer inserts and reads,
// the sealer writes chain columns and the chain bookkeeping, the admin reads.
// Every denial is tried for real, as the role, and also checked against the
// catalog so that an extra grant shows up here.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../support/database.ts';
import { connectAs, expectSqlState, readRoles, rowSnapshot } from './helpers.ts';

const db = await createTestDatabase();
const roles = await readRoles(db.pool);

const CHAIN_COLUMNS = ['prev_checksum', 'checksum', 'checksum_version', 'pii_digest', 'pii_salt'];
const BOOKKEEPING_TABLES = ['audit_chain_state', 'audit_chain_discovery', 'audit_chain_progress'];

let writer: pg.Client;
let sealer: pg.Client;
let admin: pg.Client;
let rowId: string;
let org: string;

beforeAll(async () => {
  [writer, sealer, admin] = await Promise.all([connectAs(db.url, roles.writer), connectAs(db.url, roles.sealer), connectAs(db.url, roles.admin)]);
  org = randomUUID();
  const inserted = await db.pool.query<{ id: string }>("insert into audit_logs (org_id, actor_type, action) values ($1, 'user', 'login') returning id", [org]);
  rowId = inserted.rows[0]!.id;
  await db.pool.query('insert into audit_chain_state (org_id) values ($1)', [org]);
});
afterAll(async () => {
  await Promise.all([writer, sealer, admin].map((client) => client.end()));
});

async function columnsOfAuditLogs(): Promise<string[]> {
  const result = await db.pool.query<{ column_name: string }>(
    "select column_name from information_schema.columns where table_schema = current_schema() and table_name = 'audit_logs' order by ordinal_position",
  );
  return result.rows.map((row) => row.column_name);
}

/** Which columns of audit_logs `role` holds `privilege` on, according to the catalog. */
async function columnsWith(role: string, privilege: 'SELECT' | 'INSERT' | 'UPDATE'): Promise<string[]> {
  const result = await db.pool.query<{ column_name: string }>(
    `select column_name from information_schema.columns
     where table_schema = current_schema() and table_name = 'audit_logs'
       and has_column_privilege($1, 'audit_logs', column_name, $2)
     order by ordinal_position`,
    [role, privilege],
  );
  return result.rows.map((row) => row.column_name);
}

async function tablePrivileges(role: string, table: string): Promise<string[]> {
  const result = await db.pool.query<{ privilege: string }>(
    `select privilege from unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) privilege
     where has_table_privilege($1, $2, privilege)`,
    [role, table],
  );
  return result.rows.map((row) => row.privilege);
}

describe('the catalog grants exactly the documented privileges', () => {
  test('writer: SELECT all columns, INSERT content columns only (recorded_at is the server\'s), nothing else', async () => {
    const all = await columnsOfAuditLogs();
    expect(await columnsWith(roles.writer, 'SELECT')).toEqual(all);
    expect(await columnsWith(roles.writer, 'INSERT')).toEqual(all.filter((c) => c !== 'chain_seq' && c !== 'recorded_at' && !CHAIN_COLUMNS.includes(c)));
    expect(await columnsWith(roles.writer, 'UPDATE')).toEqual([]);
    expect(await tablePrivileges(roles.writer, 'audit_logs')).toEqual(['SELECT']);
    // The read API compares chain_seq with the watermark, also as the writer (0008).
    expect(await tablePrivileges(roles.writer, 'audit_chain_state')).toEqual(['SELECT']);
    for (const table of ['audit_chain_discovery', 'audit_chain_progress', 'audit_chain_roles']) {
      expect(await tablePrivileges(roles.writer, table), table).toEqual([]);
    }
  });

  test('writer and admin write nothing but audit rows, in any table of the schema', async () => {
    const result = await db.pool.query<{ role: string; table_name: string; privilege: string }>(
      `select r.role, c.relname as table_name, p.privilege
       from pg_class c
       cross join unnest($1::text[]) r(role)
       cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(privilege)
       where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p', 'v', 'm')
         and has_table_privilege(r.role, c.oid, p.privilege)
       order by 1, 2, 3`,
      [[roles.writer, roles.admin]],
    );
    expect(result.rows).toEqual([]);
    const anyColumn = await db.pool.query<{ role: string; table_name: string; privilege: string }>(
      `select r.role, c.relname as table_name, p.privilege
       from pg_class c
       cross join unnest($1::text[]) r(role)
       cross join unnest(array['INSERT', 'UPDATE']) p(privilege)
       where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p', 'v', 'm')
         and has_any_column_privilege(r.role, c.oid, p.privilege)
       order by 1, 2, 3`,
      [[roles.writer, roles.admin]],
    );
    expect(anyColumn.rows).toEqual([{ role: roles.writer, table_name: 'audit_logs', privilege: 'INSERT' }]);
  });

  test('sealer: SELECT all columns, UPDATE the chain columns only, writes the bookkeeping tables', async () => {
    const all = await columnsOfAuditLogs();
    expect(await columnsWith(roles.sealer, 'SELECT')).toEqual(all);
    expect(await columnsWith(roles.sealer, 'INSERT')).toEqual([]);
    expect(await columnsWith(roles.sealer, 'UPDATE')).toEqual(CHAIN_COLUMNS);
    expect(await tablePrivileges(roles.sealer, 'audit_logs')).toEqual(['SELECT']);
    for (const table of BOOKKEEPING_TABLES) expect(await tablePrivileges(roles.sealer, table), table).toEqual(['SELECT', 'INSERT', 'UPDATE']);
    expect(await tablePrivileges(roles.sealer, 'audit_chain_roles')).toEqual(['SELECT']);
  });

  test('admin: SELECT only, everywhere', async () => {
    const all = await columnsOfAuditLogs();
    expect(await columnsWith(roles.admin, 'SELECT')).toEqual(all);
    expect(await columnsWith(roles.admin, 'INSERT')).toEqual([]);
    expect(await columnsWith(roles.admin, 'UPDATE')).toEqual([]);
    for (const table of ['audit_logs', ...BOOKKEEPING_TABLES, 'audit_chain_roles', 'audit_chain_open_writers']) {
      expect(await tablePrivileges(roles.admin, table), table).toEqual(['SELECT']);
    }
  });
});

describe('the writer role', () => {
  test('inserts and reads audit rows', async () => {
    const inserted = await writer.query("insert into audit_logs (org_id, actor_type, action) values ($1, 'user', 'writer.ok') returning id", [org]);
    const read = await writer.query('select action from audit_logs where id = $1', [inserted.rows[0].id]);
    expect(read.rows[0].action).toBe('writer.ok');
  });

  test('cannot UPDATE a content column', async () => {
    await expectSqlState(writer.query("update audit_logs set action = 'forged' where id = $1", [rowId]), '42501', /permission denied for table audit_logs/);
  });

  test('cannot UPDATE the chain columns', async () => {
    await expectSqlState(
      writer.query("update audit_logs set prev_checksum = repeat('0', 64), checksum = repeat('a', 64), checksum_version = 1 where id = $1", [rowId]),
      '42501',
    );
    await expectSqlState(writer.query("update audit_logs set pii_digest = 'x' where id = $1", [rowId]), '42501');
  });

  test('cannot DELETE or TRUNCATE', async () => {
    await expectSqlState(writer.query('delete from audit_logs where id = $1', [rowId]), '42501');
    await expectSqlState(writer.query('truncate audit_logs'), '42501');
  });

  test('cannot upsert its way into an UPDATE', async () => {
    await expectSqlState(
      writer.query("insert into audit_logs (id, actor_type, action) values ($1, 'user', 'x') on conflict (id) do update set action = 'forged'", [rowId]),
      '42501',
    );
  });

  test('reads the watermarks but cannot touch the chain bookkeeping', async () => {
    await writer.query('select watermark_seq from audit_chain_state');
    await expectSqlState(writer.query('select * from audit_chain_discovery'), '42501');
    await expectSqlState(writer.query("update audit_chain_state set watermark_seq = 99, head_checksum = 'x'"), '42501');
    await expectSqlState(writer.query('insert into audit_chain_state (org_id) values (gen_random_uuid())'), '42501');
    await expectSqlState(writer.query('update audit_chain_progress set horizon_seq = 99'), '42501');
  });
});

describe('the sealer role', () => {
  test('cannot INSERT audit rows', async () => {
    await expectSqlState(
      sealer.query("insert into audit_logs (org_id, actor_type, action) values ($1, 'user', 'forged')", [org]),
      '42501',
      /permission denied for table audit_logs/,
    );
  });

  test.each(['action', 'details', 'org_id', 'occurred_at', 'actor_email'])(
    'cannot UPDATE content column %s: a privilege error, before the append-only trigger',
    async (column) => {
      const before = await rowSnapshot(db.pool, rowId);
      const value = { action: "'forged'", details: "'{}'", org_id: 'gen_random_uuid()', occurred_at: 'now()', actor_email: "'x@example.com'" }[column];
      await expectSqlState(sealer.query(`update audit_logs set ${column} = ${value} where id = $1`, [rowId]), '42501');
      expect(await rowSnapshot(db.pool, rowId)).toEqual(before);
    },
  );

  test('cannot renumber a row', async () => {
    await expectSqlState(sealer.query('update audit_logs set chain_seq = default where id = $1', [rowId]), '42501');
  });

  test('cannot DELETE or TRUNCATE', async () => {
    await expectSqlState(sealer.query('delete from audit_logs where id = $1', [rowId]), '42501');
    await expectSqlState(sealer.query('truncate audit_logs'), '42501');
  });

  test('cannot take or move chain_seq values, but can read the sequence', async () => {
    await expectSqlState(sealer.query("select nextval('audit_logs_chain_seq')"), '42501');
    await expectSqlState(sealer.query("select setval('audit_logs_chain_seq', 1)"), '42501');
    const read = await sealer.query('select last_value from audit_logs_chain_seq');
    expect(read.rows).toHaveLength(1);
  });

  test('seals: writes the chain columns and moves the watermark', async () => {
    const sealed = await sealer.query(
      "update audit_logs set prev_checksum = repeat('0', 64), checksum = repeat('a', 64), checksum_version = 1 where id = $1 returning chain_seq",
      [rowId],
    );
    expect(sealed.rowCount).toBe(1);
    const moved = await sealer.query(
      "update audit_chain_state set watermark_seq = $2, head_checksum = repeat('a', 64), sealed_count = sealed_count + 1 where org_id = $1",
      [org, sealed.rows[0].chain_seq],
    );
    expect(moved.rowCount).toBe(1);
    await sealer.query('insert into audit_chain_state (org_id) values ($1)', [randomUUID()]);
    await sealer.query('update audit_chain_progress set horizon_seq = horizon_seq');
  });

  test('cannot delete chain bookkeeping', async () => {
    await expectSqlState(sealer.query('delete from audit_chain_state where org_id = $1', [org]), '42501');
    await expectSqlState(sealer.query('truncate audit_chain_progress'), '42501');
  });
});

describe('the admin role', () => {
  test('reads everything', async () => {
    for (const relation of ['audit_logs', ...BOOKKEEPING_TABLES, 'audit_chain_roles', 'audit_chain_open_writers', 'audit_logs_chain_seq']) {
      await admin.query(`select * from ${relation} limit 1`);
    }
  });

  test.each(['audit_logs', ...BOOKKEEPING_TABLES, 'audit_chain_roles'])('cannot write %s', async (table) => {
    const insert = table === 'audit_logs' ? "insert into audit_logs (actor_type, action) values ('user', 'forged')" : `insert into ${table} default values`;
    await expectSqlState(admin.query(insert), '42501');
    const column = table === 'audit_logs' ? 'checksum' : table === 'audit_chain_roles' ? 'role_name' : 'updated_at';
    const value = table === 'audit_chain_progress' ? 'horizon_seq = horizon_seq' : `${column} = ${column}`;
    await expectSqlState(admin.query(`update ${table} set ${value}`), '42501');
    await expectSqlState(admin.query(`delete from ${table}`), '42501');
    await expectSqlState(admin.query(`truncate ${table}`), '42501');
  });

  test('cannot take chain_seq values', async () => {
    await expectSqlState(admin.query("select nextval('audit_logs_chain_seq')"), '42501');
  });
});
