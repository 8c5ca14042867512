// audit_logs under format v2: new rows are sealed as checksum_version 2 after a
// chain's v1 rows, and both verifiers (audit-chain verify's and the SQL
// function) accept the mixed chain. Rows format v1 could not seal (BC years,
// year 10000, infinities, jsonb numbers beyond a double) are sealed; a property
// test inserts generated rows as the writer role, seals and verifies (total);
// tampering with any stored value of a v2 row, even one v1 would have hashed
// the same (1.0 -> 1, 2^53+1 -> 2^53), is a content_changed break.
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { verifyChains } from '@audit-chain/verification';
import { checkAllChains } from '../support/chain-check.ts';
import { newOrgId } from '../support/audit-rows.ts';
import { connect, createTestDatabase } from '../support/database.ts';
import { connectAs, readRoles } from '../db/helpers.ts';

const db = await createTestDatabase();
const roles = await readRoles(db.pool);
let writer: pg.Client;

beforeAll(async () => {
  writer = await connectAs(db.url, roles.writer);
});
afterAll(async () => {
  await writer.end();
});

const INSERT = `insert into audit_logs (org_id, occurred_at, actor_type, actor_id, actor_email, action, resource_type, resource_id, resource_name, details, ip_address, user_agent, result, error_message)
  values ($1::uuid, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::inet, $12, $13, $14) returning id::text, chain_seq::text`;

interface Event {
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  actorEmail: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  resourceName: string | null;
  details: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  result: string;
  errorMessage: string | null;
}

const plain: Event = {
  occurredAt: '2026-11-23T01:02:03.456789Z', actorType: 'user', actorId: 'u-1', actorEmail: 'a@example.com', action: 'x.y',
  resourceType: 'doc', resourceId: 'd-1', resourceName: 'Doc', details: '{"n": 1}', ipAddress: '192.0.2.1', userAgent: 'ua', result: 'success', errorMessage: null,
};

async function insert(client: pg.ClientBase | pg.Pool, orgId: string | null, event: Event): Promise<{ id: string; chain_seq: string }> {
  const result = await client.query<{ id: string; chain_seq: string }>(INSERT, [
    orgId, event.occurredAt, event.actorType, event.actorId, event.actorEmail, event.action, event.resourceType, event.resourceId,
    event.resourceName, event.details, event.ipAddress, event.userAgent, event.result, event.errorMessage,
  ]);
  return result.rows[0]!;
}

async function seal(formatVersion?: 1 | 2): Promise<void> {
  const result = await sealOnce(db.pool, { batchSize: 100, waitMs: 5_000, pollMs: 10, formatVersion });
  expect(result.broken.map((error) => error.message)).toEqual([]);
}

async function verify(orgId: string | null) {
  return verifyChains(db.pool, { orgId, keyring: null, checkpointSources: { directories: [], table: false } });
}

async function sqlBreaks(orgId: string | null): Promise<unknown[]> {
  return (await db.pool.query('select * from audit_log_verify_chain($1::uuid)', [orgId])).rows;
}

async function versions(orgId: string): Promise<number[]> {
  const result = await db.pool.query<{ checksum_version: number }>('select checksum_version from audit_logs where org_id = $1 order by chain_seq', [orgId]);
  return result.rows.map((row) => row.checksum_version);
}

describe('audit_logs sealed under format v2', () => {
  test('a v1 chain goes on under v2; both verifiers accept it; the independent check agrees', async () => {
    const org = newOrgId();
    for (let i = 0; i < 3; i += 1) await insert(writer, org, plain);
    await seal(1);
    for (let i = 0; i < 3; i += 1) await insert(writer, org, { ...plain, action: `v2.${i}` });
    await seal();
    expect(await versions(org)).toEqual([1, 1, 1, 2, 2, 2]);
    const report = await verify(org);
    expect(report.breaks).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.totals.sealed).toBe(6);
    expect(await sqlBreaks(org)).toEqual([]);
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
  });

  test('rows format v1 could not seal are sealed, and verify', async () => {
    const org = newOrgId();
    const events: Partial<Event>[] = [
      { occurredAt: '9999-12-31T23:59:59-15:59' },
      { occurredAt: '0001-01-01T00:00:00+15:00' },
      { occurredAt: 'infinity' },
      { occurredAt: '-infinity' },
      { occurredAt: '4713-01-01 00:00:00+00 BC' },
      { details: '{"big": 1e400, "neg": -1e309, "exact": 9007199254740993, "scale": 1.0}' },
      { details: 'null' },
      { ipAddress: '::ffff:192.0.2.1/96', actorEmail: null, userAgent: '' },
    ];
    for (const event of events) await insert(writer, org, { ...plain, ...event });
    await seal();
    expect(await versions(org)).toEqual(events.map(() => 2));
    const report = await verify(org);
    expect(report.breaks).toEqual([]);
    expect(report.totals.sealed).toBe(events.length);
    expect(await sqlBreaks(org)).toEqual([]);
  });

  test.each([
    ['details', `'{"n": 1}'::jsonb`, `'{"n": 1.0}'::jsonb`],
    ['details', `'{"n": 9007199254740993}'::jsonb`, `'{"n": 9007199254740992}'::jsonb`],
    ['occurred_at', `'2026-01-01T00:00:00.000001Z'::timestamptz`, `'2026-01-01T00:00:00.000002Z'::timestamptz`],
    ['occurred_at', `'0001-01-01T00:00:00Z'::timestamptz`, `'0001-01-01T00:00:00Z BC'::timestamptz`],
    ['occurred_at', `'infinity'::timestamptz`, `'-infinity'::timestamptz`],
    ['ip_address', `'192.0.2.1'::inet`, `'192.0.2.1/24'::inet`],
    ['resource_id', `''`, `null`],
    ['actor_email', `'a@example.com'`, `'A@example.com'`],
  ])('changing %s from %s to %s in a sealed v2 row is caught', async (column, before, after) => {
    const org = newOrgId();
    const row = await insert(writer, org, plain);
    // Give the pending row the "before" value (the writer role cannot update; the test bypasses the append-only trigger).
    const target = await db.pool.connect();
    try {
      await target.query('begin');
      await target.query('set local session_replication_role = replica');
      await target.query(`update audit_logs set ${column} = ${before} where id = $1::uuid`, [row.id]);
      await target.query('commit');
    } finally {
      target.release();
    }
    await seal();
    expect((await verify(org)).breaks).toEqual([]);
    const attacker = await connect(db.url);
    try {
      await attacker.query('begin');
      await attacker.query('set local session_replication_role = replica');
      await attacker.query(`update audit_logs set ${column} = ${after} where id = $1::uuid`, [row.id]);
      await attacker.query('commit');
    } finally {
      await attacker.end();
    }
    const report = await verify(org);
    expect(report.breaks.map((b) => [b.kind, b.chainSeq])).toEqual([['content_changed', row.chain_seq]]);
    // The SQL function checks links only: a value changed in place is for audit-chain verify.
    expect(await sqlBreaks(org)).toEqual([]);
  });

  test('property: rows generated and inserted as the writer role always seal and verify (total)', async () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\u0000'));
    // From 4713 BC up to what one interval of microseconds can add to the epoch (year 294247).
    const micros = fc.bigInt({ min: -210_866_803_200_000_000n, max: 9_223_372_036_854_775_807n });
    const instant = fc.oneof(
      micros.map((us) => `epoch|${us}`),
      fc.constantFrom('infinity', '-infinity', '9999-12-31T23:59:59-15:59', '0001-01-01T00:00:00+15:00', '2026-02-29T00:00:00Z'.replace('29', '28')),
    );
    const json = fc.oneof(
      // jsonb refuses \u0000 (the database's rule, not the format's): such a row is never stored.
      fc.json().filter((text) => !text.includes('\\u0000')),
      fc.constantFrom('1e400', '-1e309', '{"a":1.0,"b":[1.00,-0,0.1e1]}', '"\\ud83d\\ude00"', '12345678901234567890123'),
    );
    const ip = fc.oneof(fc.ipV4(), fc.ipV6(), fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, m]) => `${a}/${m}`));
    const event = fc.record({
      orgId: fc.constantFrom<string | null>(null, '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b'),
      occurredAt: instant,
      actorType: text,
      actorId: fc.option(text, { nil: null }),
      actorEmail: fc.option(text, { nil: null }),
      action: text,
      resourceType: fc.option(text, { nil: null }),
      resourceId: fc.option(text, { nil: null }),
      resourceName: fc.option(text, { nil: null }),
      details: fc.option(json, { nil: null }),
      ipAddress: fc.option(ip, { nil: null }),
      userAgent: fc.option(text, { nil: null }),
      result: fc.constantFrom('success', 'failure', 'denied'),
      errorMessage: fc.option(text, { nil: null }),
    });
    const used = new Set<string | null>();
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 15 }), async (events) => {
        for (const { orgId, ...e } of events) {
          used.add(orgId);
          const occurredAt = e.occurredAt.startsWith('epoch|')
            ? (await writer.query<{ t: string }>(`select (timestamptz 'epoch' + ($1 || ' us')::interval)::text as t`, [e.occurredAt.slice(6)])).rows[0]!.t
            : e.occurredAt;
          await insert(writer, orgId, { ...e, occurredAt });
        }
        await seal();
        // Only chains that have rows: verify refuses a chain it has never heard of.
        for (const org of used) {
          const report = await verify(org);
          expect(report.breaks).toEqual([]);
          expect(report.totals.pending).toBe(0);
          expect(await sqlBreaks(org)).toEqual([]);
        }
      }),
      { numRuns: Number(process.env.FORMAT_V2_RUNS ?? 10) },
    );
  }, 300_000);
});
