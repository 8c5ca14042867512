import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connect, createTestDatabase } from '../../../test/support/database.ts';
import { listAuditEventsStatement } from './db/list-audit-events.ts';
import { AUTH, event, ORG_A, ORG_B, testServer } from './test-support.ts';

const db = await createTestDatabase();
const app = testServer(db.pool);
afterAll(() => app.close());

interface Listed {
  id: string;
  org_id: string | null;
  chain_seq: string;
  action: string;
  sealed: boolean;
}

const list = async (path: string) => {
  const response = await app.inject({ method: 'GET', url: path, headers: AUTH });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as { events: Listed[]; next_cursor: string | null };
};

/** Follows next_cursor to the end; returns every page. */
async function allPages(orgPath: string, limit: number): Promise<Listed[][]> {
  const pages: Listed[][] = [];
  let cursor: string | null = null;
  do {
    const page = await list(`/v1/orgs/${orgPath}/audit-events?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    pages.push(page.events);
    cursor = page.next_cursor;
    expect(pages.length).toBeLessThan(100);
  } while (cursor !== null);
  return pages;
}

const seqsInDb = async (orgId: string | null) =>
  (
    await db.pool.query<{ seq: string }>(
      `select chain_seq::text as seq from audit_logs where org_id is not distinct from $1::uuid order by audit_logs.chain_seq desc`,
      [orgId],
    )
  ).rows.map((row) => row.seq);

async function write(events: Record<string, unknown>[]): Promise<void> {
  const response = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: { events } });
  expect(response.statusCode, response.body).toBe(201);
}

beforeAll(async () => {
  // Interleave the chains so each one's chain_seq has gaps, as in production.
  for (let i = 0; i < 23; i++) {
    await write([event({ action: `a.${i}` }), ...(i < 5 ? [event({ org_id: ORG_B, action: `b.${i}` })] : []), ...(i < 3 ? [event({ org_id: null, action: `s.${i}` })] : [])]);
  }
});

describe('pagination', () => {
  test('pages walk the chain newest first with no duplicates or omissions, and end with next_cursor null', async () => {
    const pages = await allPages(ORG_A, 5);
    expect(pages.map((page) => page.length)).toEqual([5, 5, 5, 5, 3]);
    const seqs = pages.flat().map((row) => row.chain_seq);
    expect(seqs).toEqual(await seqsInDb(ORG_A));
    expect(pages.flat().map((row) => row.action)).toEqual(Array.from({ length: 23 }, (_, i) => `a.${22 - i}`));
    expect(pages.flat().every((row) => row.org_id === ORG_A)).toBe(true);
  });

  test('a last page that is exactly full still ends with next_cursor null', async () => {
    const pages = await allPages(ORG_B, 5);
    expect(pages.map((page) => page.length)).toEqual([5]);
  });

  test('the default limit is 50', async () => {
    const page = await list(`/v1/orgs/${ORG_A}/audit-events`);
    expect(page.events).toHaveLength(23);
    expect(page.next_cursor).toBeNull();
  });

  test('rows written between pages neither repeat nor shift later pages', async () => {
    const first = await list(`/v1/orgs/${ORG_A}/audit-events?limit=10`);
    await write([event({ action: 'late.1' }), event({ action: 'late.2' })]);
    const second = await list(`/v1/orgs/${ORG_A}/audit-events?limit=10&cursor=${first.next_cursor}`);
    const all = await seqsInDb(ORG_A);
    expect([...first.events, ...second.events].map((row) => row.chain_seq)).toEqual(all.slice(2, 22));
  });

  test('the system chain is listed at /v1/orgs/system/audit-events', async () => {
    const page = await list('/v1/orgs/system/audit-events?limit=2');
    expect(page.events.map((row) => [row.org_id, row.action])).toEqual([[null, 's.2'], [null, 's.1']]);
    const rest = await list(`/v1/orgs/system/audit-events?limit=2&cursor=${page.next_cursor}`);
    expect(rest.events.map((row) => row.action)).toEqual(['s.0']);
    expect(rest.next_cursor).toBeNull();
  });

  test('an organization with no events is an empty page', async () => {
    expect(await list('/v1/orgs/0190a5f0-0000-7000-8000-0000000000ff/audit-events')).toEqual({ events: [], next_cursor: null });
  });

  test('an upper-case organization id lists the same chain', async () => {
    const page = await list(`/v1/orgs/${ORG_B.toUpperCase()}/audit-events`);
    expect(page.events.map((row) => row.chain_seq)).toEqual(await seqsInDb(ORG_B));
  });

  test('rows carry every content field', async () => {
    await write([event({ org_id: '0190a5f0-0000-7000-8000-0000000000cc', occurred_at: '2024-05-01T12:00:00.5Z', details: { k: [1, 'two'] }, ip_address: '192.0.2.7', result: 'failure', error_message: 'boom', user_agent: 'ua' })]);
    const [row] = (await list('/v1/orgs/0190a5f0-0000-7000-8000-0000000000cc/audit-events')).events;
    expect(row).toEqual({
      id: expect.any(String), org_id: '0190a5f0-0000-7000-8000-0000000000cc', chain_seq: expect.stringMatching(/^\d+$/),
      occurred_at: '2024-05-01T12:00:00.500000Z', recorded_at: expect.stringMatching(/^\d{4}-.*\.\d{6}Z$/),
      actor_type: 'user', actor_id: 'u-1', actor_email: null, action: 'user.login', resource_type: null,
      resource_id: null, resource_name: null, details: { k: [1, 'two'] }, ip_address: '192.0.2.7', user_agent: 'ua',
      result: 'failure', error_message: 'boom', sealed: false,
    });
  });

  test('the page is read from the (org_id, chain_seq) index in order, without a sort', async () => {
    const client = await connect(db.url);
    try {
      await client.query('set enable_seqscan = off');
      for (const query of [
        { orgId: ORG_A, beforeSeq: '1000', limit: 50 },
        { orgId: null, beforeSeq: undefined, limit: 50 },
        { orgId: null, beforeSeq: '1000', limit: 50 },
      ]) {
        const statement = listAuditEventsStatement(query);
        const { rows } = await client.query({ text: `explain ${statement.text}`, values: statement.values });
        const plan = rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
        expect(plan).toContain('Index Scan Backward using audit_logs_org_chain_seq_idx');
        expect(plan).not.toMatch(/\bSort\b/);
      }
    } finally {
      await client.end();
    }
  });
});

describe('sealed', () => {
  test('follows the chain watermark, not the checksum column', async () => {
    const seqs = await seqsInDb(ORG_A); // newest first
    const watermark = seqs[10]!;
    const aboveWatermark = seqs[3]!;
    await db.pool.query(
      `insert into audit_chain_state (org_id, watermark_seq, head_checksum) values ($1, $2, repeat('a', 64)), (null, 0, null)`,
      [ORG_A, watermark],
    );
    // A privileged connection slips a checksum onto a pending row: it must not look sealed.
    await db.pool.query(
      `update audit_logs set prev_checksum = repeat('0', 64), checksum = repeat('f', 64), checksum_version = 1 where chain_seq = $1`,
      [aboveWatermark],
    );

    const rows = (await allPages(ORG_A, 500)).flat();
    const sealedSeqs = rows.filter((row) => row.sealed).map((row) => row.chain_seq);
    expect(sealedSeqs).toEqual(seqs.slice(10));
    expect(rows.find((row) => row.chain_seq === aboveWatermark)?.sealed).toBe(false);

    // A chain without a state row, and one whose watermark is 0, have nothing sealed.
    expect((await list(`/v1/orgs/${ORG_B}/audit-events`)).events.some((row) => row.sealed)).toBe(false);
    expect((await list('/v1/orgs/system/audit-events')).events.some((row) => row.sealed)).toBe(false);
  });
});

describe('query validation', () => {
  const problems = async (path: string) => {
    const response = await app.inject({ method: 'GET', url: path, headers: AUTH });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'validation_failed' });
    return response.json().details as { field: string }[];
  };

  test('limit must be an integer from 1 to 500', async () => {
    for (const limit of ['0', '501', '-1', '1.5', 'ten', '', '0010x']) {
      expect(await problems(`/v1/orgs/${ORG_A}/audit-events?limit=${limit}`)).toEqual([{ field: 'limit', problem: expect.any(String) }]);
    }
    expect(await problems(`/v1/orgs/${ORG_A}/audit-events?limit=1&limit=2`)).toEqual([{ field: 'limit', problem: expect.any(String) }]);
    expect((await list(`/v1/orgs/${ORG_A}/audit-events?limit=500`)).events.length).toBeGreaterThan(0);
  });

  test('a cursor must be one this endpoint issued', async () => {
    const forged = [Buffer.from('seq:0').toString('base64url'), Buffer.from('seq:99999999999999999999').toString('base64url'), Buffer.from('123').toString('base64url'), '!!', ''];
    for (const cursor of forged) {
      expect(await problems(`/v1/orgs/${ORG_A}/audit-events?cursor=${cursor}`)).toEqual([{ field: 'cursor', problem: expect.any(String) }]);
    }
  });

  test('the organization must be a uuid or "system", and unknown parameters are refused', async () => {
    expect(await problems('/v1/orgs/acme/audit-events?sort=asc')).toEqual([
      { field: 'org_id', problem: expect.any(String) },
      { field: 'sort', problem: 'is not a known query parameter' },
    ]);
  });
});
