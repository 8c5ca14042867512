// The insert path: every way a client writes audit rows (single and multi-row
// INSERT, COPY, drizzle) works unchanged, as superuser and as the writer role,
// and under 32 concurrent connections every committed row gets its own
// chain_seq; rolled-back inserts leave gaps, never duplicates.
import { randomUUID } from 'node:crypto';
import { drizzle } from 'drizzle-orm/node-postgres';
import { inArray } from 'drizzle-orm';
import type pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { auditLogs } from '@audit-chain/db/schema';
import { connect, createTestDatabase } from '../support/database.ts';
import { barrier, connectAs, psql, readRoles } from './helpers.ts';

const db = await createTestDatabase();
const roles = await readRoles(db.pool);

const clients: pg.Client[] = [];
afterAll(async () => {
  await Promise.all(clients.map((client) => client.end()));
});

async function open(role: string | null): Promise<pg.Client> {
  const client = role ? await connectAs(db.url, role) : await connect(db.url);
  clients.push(client);
  return client;
}

/** The highest value the chain_seq sequence has handed out (0 before the first). */
async function sequenceHead(): Promise<bigint> {
  const result = await db.pool.query<{ last_value: string; is_called: boolean }>('select last_value, is_called from audit_logs_chain_seq');
  const row = result.rows[0]!;
  return row.is_called ? BigInt(row.last_value) : BigInt(row.last_value) - 1n;
}

function strictlyIncreasing(values: bigint[]): boolean {
  return values.every((value, index) => index === 0 || value > values[index - 1]!);
}

describe('under 32 concurrent connections', () => {
  const CONNECTIONS = 32;
  const TRANSACTIONS_PER_CONNECTION = 40;
  const orgs: (string | null)[] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), null];

  interface Outcome {
    committed: { id: string; seq: bigint; org: string | null }[];
    rolledBackSeqs: bigint[];
    /** chain_seq values this connection received, in the order it inserted. */
    issued: bigint[];
  }

  test('every committed row has a distinct chain_seq; rolled-back rows leave gaps, not duplicates', async () => {
    // Half the connections act as the writer role, as the API would; half as the table owner.
    const connections = await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, index) => open(index % 2 === 0 ? roles.writer : null)),
    );
    const before = await sequenceHead();
    const allOpen = barrier(CONNECTIONS);
    const start = barrier(CONNECTIONS);

    const outcomes = await Promise.all(
      connections.map(async (client, index): Promise<Outcome> => {
        const outcome: Outcome = { committed: [], rolledBackSeqs: [], issued: [] };
        const insert = async (org: string | null, action: string) => {
          const result = await client.query<{ id: string; chain_seq: string }>(
            "insert into audit_logs (org_id, actor_type, actor_id, action, details) values ($1, 'agent', $2, $3, $4) returning id, chain_seq",
            [org, `conn-${index}`, action, { connection: index }],
          );
          const row = result.rows[0]!;
          const seq = BigInt(row.chain_seq);
          outcome.issued.push(seq);
          return { id: row.id, seq, org };
        };

        // Phase 1: all 32 transactions hold a chain_seq at the same moment, then
        // finish in an order unrelated to the sequence: half commit, half roll back.
        await start();
        await client.query('begin');
        const held = await insert(orgs[index % orgs.length]!, 'held-open');
        await allOpen();
        if (index % 2 === 0) {
          await client.query('commit');
          outcome.committed.push(held);
        } else {
          await client.query('rollback');
          outcome.rolledBackSeqs.push(held.seq);
        }

        // Phase 2: free-running mix of autocommit inserts and small transactions,
        // every fifth one rolled back.
        for (let t = 0; t < TRANSACTIONS_PER_CONNECTION; t++) {
          const org = orgs[(index + t) % orgs.length]!;
          if (t % 3 === 0) {
            outcome.committed.push(await insert(org, 'autocommit'));
            continue;
          }
          await client.query('begin');
          const rows = [await insert(org, 'in-transaction'), await insert(orgs[(index + t + 1) % orgs.length]!, 'in-transaction')];
          if (t % 5 === 0) {
            await client.query('rollback');
            outcome.rolledBackSeqs.push(...rows.map((row) => row.seq));
          } else {
            await client.query('commit');
            outcome.committed.push(...rows);
          }
        }
        return outcome;
      }),
    );
    const after = await sequenceHead();

    const committed = outcomes.flatMap((outcome) => outcome.committed);
    const rolledBack = outcomes.flatMap((outcome) => outcome.rolledBackSeqs);
    expect(committed.length).toBeGreaterThan(1000);
    expect(rolledBack.length).toBeGreaterThan(100);

    // Each connection saw its own values strictly increase.
    for (const outcome of outcomes) expect(strictlyIncreasing(outcome.issued)).toBe(true);

    const stored = await db.pool.query<{ id: string; chain_seq: string; org_id: string | null; action: string }>(
      'select id, chain_seq, org_id, action from audit_logs where chain_seq > $1 and chain_seq <= $2',
      [before.toString(), after.toString()],
    );
    const storedSeqs = stored.rows.map((row) => BigInt(row.chain_seq));
    expect(new Set(storedSeqs).size, 'distinct chain_seq values').toBe(stored.rows.length);
    expect(stored.rows.length).toBe(committed.length);

    // Exactly the committed rows are there, each with the chain_seq and org it was given.
    const byId = new Map(stored.rows.map((row) => [row.id, row]));
    for (const row of committed) {
      const found = byId.get(row.id);
      expect(found, `committed row ${row.id}`).toBeDefined();
      expect(BigInt(found!.chain_seq)).toBe(row.seq);
      expect(found!.org_id).toBe(row.org);
    }

    // Every value the sequence handed out is either a committed row or a gap left by a rollback.
    expect(after - before).toBe(BigInt(committed.length + rolledBack.length));
    const storedSet = new Set(storedSeqs);
    const gaps: bigint[] = [];
    for (let seq = before + 1n; seq <= after; seq++) if (!storedSet.has(seq)) gaps.push(seq);
    expect(gaps).toEqual([...rolledBack].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));

    // All organizations, the system chain (NULL) included, received rows.
    const perOrg = new Map<string | null, number>();
    for (const row of stored.rows) perOrg.set(row.org_id, (perOrg.get(row.org_id) ?? 0) + 1);
    for (const org of orgs) expect(perOrg.get(org) ?? 0, `rows of org ${org}`).toBeGreaterThan(0);

    // Inserting sealed nothing: the insert path computes no hash.
    const chained = await db.pool.query(
      'select count(*)::int as n from audit_logs where chain_seq > $1 and (prev_checksum is not null or checksum is not null or checksum_version is not null)',
      [before.toString()],
    );
    expect(chained.rows[0].n).toBe(0);
  });
});

describe.each([
  ['the table owner', null],
  ['the writer role', roles.writer],
] as const)('as %s', (_label, role) => {
  test('a multi-row INSERT gives every row its own increasing chain_seq', async () => {
    const client = await open(role);
    const org = randomUUID();
    const result = await client.query<{ chain_seq: string }>(
      `insert into audit_logs (org_id, actor_type, action, resource_type, resource_id) values
         ($1, 'user', 'login', null, null),
         ($1, 'user', 'document.read', 'document', 'd-1'),
         (null, 'system', 'cron.run', null, null),
         ($1, 'api_key', 'document.delete', 'document', 'd-2')
       returning chain_seq`,
      [org],
    );
    const seqs = result.rows.map((row) => BigInt(row.chain_seq));
    expect(seqs).toHaveLength(4);
    expect(strictlyIncreasing(seqs)).toBe(true);

    const fromSelect = await client.query<{ chain_seq: string }>(
      "insert into audit_logs (org_id, actor_type, action, details) select $1, 'agent', 'telemetry', jsonb_build_object('n', n) from generate_series(1, 500) n returning chain_seq",
      [org],
    );
    const selectSeqs = fromSelect.rows.map((row) => BigInt(row.chain_seq));
    expect(new Set(selectSeqs).size).toBe(500);
    expect(selectSeqs.every((seq) => seq > seqs[3]!)).toBe(true);
  });

  test('COPY FROM STDIN works and takes chain_seq from the sequence', async () => {
    const org = randomUUID();
    const action = `copy.${randomUUID()}`;
    const lines = Array.from({ length: 300 }, (_, n) => `${n % 3 === 0 ? '' : org},agent,${action},"{""n"": ${n}}",10.0.0.${n % 250}`);
    const setRole = role ? [`--command=set role "${role}"`] : [];
    const copied = await psql(
      db.url,
      [...setRole, '--command=copy audit_logs (org_id, actor_type, action, details, ip_address) from stdin with (format csv)'],
      `${lines.join('\n')}\n`,
    );
    expect(copied.stderr).toBe('');
    expect(copied.code).toBe(0);

    const stored = await db.pool.query<{ chain_seq: string; org_id: string | null; checksum: string | null }>(
      'select chain_seq, org_id, checksum from audit_logs where action = $1',
      [action],
    );
    expect(stored.rows).toHaveLength(300);
    expect(new Set(stored.rows.map((row) => row.chain_seq)).size).toBe(300);
    expect(stored.rows.filter((row) => row.org_id === null)).toHaveLength(100);
    expect(stored.rows.every((row) => row.checksum === null)).toBe(true);
  });

  test("drizzle's db.insert(auditLogs) works unchanged", async () => {
    const client = await open(role);
    const orm = drizzle(client);
    const org = randomUUID();
    const inserted = await orm
      .insert(auditLogs)
      .values([
        { orgId: org, actorType: 'user', actorId: 'u-1', actorEmail: 'a@example.com', action: 'member.invite', details: { invited: 'b@example.com' }, ipAddress: '192.0.2.1' },
        { orgId: null, actorType: 'system', action: 'key.rotate', result: 'failure', errorMessage: 'kms timeout' },
      ])
      .returning({ id: auditLogs.id, chainSeq: auditLogs.chainSeq });
    expect(inserted).toHaveLength(2);
    expect(inserted[1]!.chainSeq).toBeGreaterThan(inserted[0]!.chainSeq);

    const single = await orm.insert(auditLogs).values({ orgId: org, actorType: 'user', action: 'login' }).returning();
    expect(single[0]!.chainSeq).toBeGreaterThan(inserted[1]!.chainSeq);
    expect(single[0]!.checksum).toBeNull();

    const stored = await orm
      .select()
      .from(auditLogs)
      .where(inArray(auditLogs.id, inserted.map((row) => row.id)));
    const invite = stored.find((row) => row.action === 'member.invite')!;
    expect(invite).toMatchObject({ orgId: org, actorEmail: 'a@example.com', details: { invited: 'b@example.com' }, ipAddress: '192.0.2.1', result: 'success' });
    expect(stored.find((row) => row.action === 'key.rotate')).toMatchObject({ orgId: null, result: 'failure', errorMessage: 'kms timeout' });
  });
});

test('drizzle leaves the chain columns out of INSERT even when a caller sets them', async () => {
  const client = await open(roles.writer);
  const orm = drizzle(client);
  const [row] = await orm
    .insert(auditLogs)
    .values({ orgId: randomUUID(), actorType: 'user', action: 'sneaky', prevChecksum: '0'.repeat(64), checksum: 'f'.repeat(64), checksumVersion: 1 })
    .returning();
  expect(row).toMatchObject({ prevChecksum: null, checksum: null, checksumVersion: null, piiDigest: null, piiSalt: null });
});
