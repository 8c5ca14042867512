import { afterAll, beforeEach, describe, expect, test } from 'vitest';
import { createPool } from '@audit-chain/db';
import { createTestDatabase } from '../../../test/support/database.ts';
import { ROWS_PER_STATEMENT } from './db/insert-audit-events.ts';
import { AUTH, closedPort, event, ORG_A, ORG_B, rowCount, testServer } from './test-support.ts';

const db = await createTestDatabase();
const app = testServer(db.pool, { AUDIT_CHAIN_BODY_LIMIT_BYTES: '4096' });
afterAll(() => app.close());

/** Sends bytes as they are (no client-side header checks) and parses the reply. */
async function rawRequest(port: number, request: string): Promise<{ status: number; contentType: string; body: unknown }> {
  const { connect } = await import('node:net');
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const contentType = /^content-type: (.*)$/im.exec(head)?.[1] ?? '';
  return { status, contentType, body: JSON.parse(body) };
}

const post = (payload: unknown, headers: Record<string, string> = AUTH) =>
  app.inject({ method: 'POST', url: '/v1/audit-events', headers, payload: payload as object });

// Each test states the table's contents, so it starts from an empty table. The
// append-only trigger refuses DELETE; session_replication_role skips triggers
// for this superuser-only cleanup.
beforeEach(async () => {
  await db.pool.query(`begin; set local session_replication_role = replica; delete from audit_logs; commit`);
});

describe('writing', () => {
  test('a single event is stored with every field and answered with id, chain_seq and recorded_at', async () => {
    const clientId = '0190a5f0-1111-7000-8000-000000000001';
    const response = await post(
      event({
        id: clientId,
        occurred_at: '2024-05-01T12:00:00.123456+02:00',
        actor_email: 'ada@example.com',
        resource_type: 'document',
        resource_id: 'doc-9',
        resource_name: 'Budget',
        details: { changed: ['title'], nested: { n: 1 } },
        ip_address: '2001:db8::1',
        user_agent: 'curl/8',
        result: 'denied',
        error_message: 'no access',
      }),
    );
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toEqual({ id: clientId, chain_seq: expect.stringMatching(/^[1-9][0-9]*$/), recorded_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/) });

    const { rows } = await db.pool.query(
      `select org_id, chain_seq::text, occurred_at = '2024-05-01T10:00:00.123456Z' as occurred_ok, actor_type, actor_id,
         actor_email, action, resource_type, resource_id, resource_name, details, host(ip_address) as ip, user_agent,
         result, error_message, prev_checksum, checksum, checksum_version, pii_digest, pii_salt,
         to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as recorded_at
       from audit_logs where id = $1`,
      [clientId],
    );
    expect(rows).toEqual([
      {
        org_id: ORG_A, chain_seq: body.chain_seq, occurred_ok: true, actor_type: 'user', actor_id: 'u-1',
        actor_email: 'ada@example.com', action: 'user.login', resource_type: 'document', resource_id: 'doc-9',
        resource_name: 'Budget', details: { changed: ['title'], nested: { n: 1 } }, ip: '2001:db8::1',
        user_agent: 'curl/8', result: 'denied', error_message: 'no access', prev_checksum: null, checksum: null,
        checksum_version: null, pii_digest: null, pii_salt: null, recorded_at: body.recorded_at,
      },
    ]);
  });

  test('omitted optional fields take the column defaults; org_id null is the system chain', async () => {
    const response = await post({ org_id: null, actor_type: 'system', action: 'job.run' });
    expect(response.statusCode).toBe(201);
    const { rows } = await db.pool.query(
      `select org_id, result, occurred_at = recorded_at as occurred_defaulted, details, ip_address from audit_logs`,
    );
    expect(rows).toEqual([{ org_id: null, result: 'success', occurred_defaulted: true, details: null, ip_address: null }]);
  });

  test('a batch is stored in one transaction and answered in request order with increasing chain_seq', async () => {
    const events = [event({ action: 'a' }), event({ org_id: ORG_B, action: 'b' }), event({ org_id: null, action: 'c' })];
    const response = await post({ events });
    expect(response.statusCode).toBe(201);
    const created = response.json().events as { id: string; chain_seq: string; recorded_at: string }[];
    expect(created).toHaveLength(3);
    // One transaction: now() is the same for every row.
    expect(new Set(created.map((row) => row.recorded_at)).size).toBe(1);
    const seqs = created.map((row) => BigInt(row.chain_seq));
    expect(seqs[0]! < seqs[1]! && seqs[1]! < seqs[2]!).toBe(true);

    const { rows } = await db.pool.query(`select id, action, org_id from audit_logs order by chain_seq`);
    expect(rows).toEqual([
      { id: created[0]!.id, action: 'a', org_id: ORG_A },
      { id: created[1]!.id, action: 'b', org_id: ORG_B },
      { id: created[2]!.id, action: 'c', org_id: null },
    ]);
  });

  test('concurrent writers each get their rows, with distinct chain_seq', async () => {
    const responses = await Promise.all(
      Array.from({ length: 32 }, (_, i) => post({ events: [event({ action: `w${i}.1` }), event({ action: `w${i}.2` })] })),
    );
    expect(responses.map((r) => r.statusCode)).toEqual(Array(32).fill(201));
    const returned = responses.flatMap((r) => (r.json().events as { chain_seq: string }[]).map((e) => e.chain_seq));
    expect(new Set(returned).size).toBe(64);
    const { rows } = await db.pool.query(`select count(*)::int as n, count(distinct chain_seq)::int as d from audit_logs`);
    expect(rows[0]).toEqual({ n: 64, d: 64 });
  });
});

describe('atomicity', () => {
  test('one invalid row fails the whole batch with 400 and writes nothing', async () => {
    const response = await post({ events: [event(), event(), event({ org_id: 'not-a-uuid' }), event()] });
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([{ field: '/events/2/org_id', problem: expect.stringContaining('uuid') }]);
    expect(await rowCount(db.pool)).toBe(0);
  });

  test('a duplicate client id inside the batch fails in the database: 409 and no row of the batch is stored', async () => {
    const id = '0190a5f0-2222-7000-8000-000000000001';
    const response = await post({ events: [event({ action: 'first' }), event({ id }), event({ action: 'middle' }), event({ id })] });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: 'duplicate_event_id', details: [] });
    expect(await rowCount(db.pool)).toBe(0);
  });

  test('a client id that already exists is a 409, not a silent drop, and the stored row is unchanged', async () => {
    const id = '0190a5f0-3333-7000-8000-000000000001';
    expect((await post(event({ id, action: 'original' }))).statusCode).toBe(201);
    const response = await post({ events: [event({ action: 'new' }), event({ id: id.toUpperCase(), action: 'replay' })] });
    expect(response.statusCode).toBe(409);
    expect(response.json().message).toContain(id);
    const { rows } = await db.pool.query(`select id, action from audit_logs`);
    expect(rows).toEqual([{ id, action: 'original' }]);
  });

  test('a batch larger than one statement is one transaction: in order when it commits, nothing when its last part fails', async () => {
    const big = testServer(db.pool, { AUDIT_CHAIN_MAX_BATCH: '5000' });
    try {
      const count = ROWS_PER_STATEMENT + 5;
      const events = Array.from({ length: count }, (_, i) => event({ action: `bulk.${i}` }));
      const ok = await big.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: { events } });
      expect(ok.statusCode, ok.body).toBe(201);
      const created = ok.json().events as { id: string }[];
      const { rows } = await db.pool.query<{ id: string; action: string }>(`select id, action from audit_logs order by chain_seq`);
      expect(rows).toEqual(created.map((row, i) => ({ id: row.id, action: `bulk.${i}` })));

      const id = '0190a5f0-4444-7000-8000-000000000001';
      const failing = events.map((e, i) => (i === 0 || i === count - 1 ? { ...e, id } : e));
      const refused = await big.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: { events: failing } });
      expect(refused.statusCode).toBe(409);
      expect(await rowCount(db.pool)).toBe(count);
    } finally {
      await big.close();
    }
  });

  test('a database that cannot be reached is a 503 JSON error, never an acknowledgement', async () => {
    const deadPool = createPool(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, { applicationName: 'api test' });
    const deadApp = testServer(deadPool);
    try {
      const response = await deadApp.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: event() });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.json()).toMatchObject({ error: 'database_unavailable', details: [] });
    } finally {
      await deadApp.close();
      await deadPool.end();
    }
  });
});

describe('validation', () => {
  const problemsOf = async (payload: unknown) => {
    const response = await post(payload);
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json();
    expect(body).toMatchObject({ error: 'validation_failed', message: expect.any(String) });
    expect(await rowCount(db.pool)).toBe(0);
    return body.details as { field: string; problem: string }[];
  };

  test('a missing required field', async () => {
    expect(await problemsOf({ org_id: ORG_A, actor_type: 'user' })).toEqual([{ field: '/action', problem: 'is required' }]);
    // org_id must be given, null included, so an event cannot fall into the system chain by omission.
    expect(await problemsOf({ events: [event(), { actor_type: 'user', action: 'x' }] })).toEqual([
      { field: '/events/1/org_id', problem: 'is required' },
    ]);
  });

  test('a wrong type is refused, not coerced', async () => {
    expect(await problemsOf(event({ actor_type: 42, details: 'text', result: 'ok' }))).toEqual([
      { field: '/actor_type', problem: 'must be string' },
      { field: '/details', problem: 'must be object or null' },
      { field: '/result', problem: 'must be one of success, failure, denied' },
    ]);
    expect(await problemsOf({ events: event() })).toEqual([{ field: '/events', problem: 'must be array' }]);
    expect(await problemsOf([event()])).toEqual([{ field: '', problem: expect.stringContaining('JSON object') }]);
  });

  test('a bad uuid', async () => {
    expect(await problemsOf(event({ org_id: 'urn:uuid:0190a5f0-0000-7000-8000-00000000000a' }))).toEqual([
      { field: '/org_id', problem: expect.stringContaining('must match format uuid') },
    ]);
    expect(await problemsOf(event({ id: '0190a5f0000070008000000000000001' }))).toEqual([
      { field: '/id', problem: expect.stringContaining('must match format uuid') },
    ]);
  });

  test('a bad ip address', async () => {
    for (const ip of ['10.0.0.0/8', '1.2.3.04', 'fe80::1%eth0', '256.1.1.1', 'localhost']) {
      expect(await problemsOf(event({ ip_address: ip }))).toEqual([{ field: '/ip_address', problem: expect.stringContaining('ip address') }]);
    }
  });

  test('a bad date-time', async () => {
    for (const at of ['0000-01-01T00:00:00Z', '12024-01-01T00:00:00Z', '2024-02-30T00:00:00Z', '2024-01-01T00:00:00', '2024-01-01T00:00:00+16:00', '2024-01-01']) {
      expect(await problemsOf(event({ occurred_at: at }))).toEqual([{ field: '/occurred_at', problem: expect.stringContaining('date-time') }]);
    }
  });

  test('chain fields and unknown fields are refused, never dropped', async () => {
    expect(await problemsOf(event({ chain_seq: '1', checksum: 'ab', prev_checksum: 'cd', recorded_at: '2024-01-01T00:00:00Z', colour: 'red' }))).toEqual([
      { field: '/chain_seq', problem: 'is assigned by the server and cannot be supplied' },
      { field: '/checksum', problem: 'is assigned by the server and cannot be supplied' },
      { field: '/prev_checksum', problem: 'is assigned by the server and cannot be supplied' },
      { field: '/recorded_at', problem: 'is assigned by the server and cannot be supplied' },
      { field: '/colour', problem: 'is not a known field' },
    ]);
    expect(await problemsOf({ events: [event({ checksum_version: 1 })], extra: true })).toEqual([
      { field: '/extra', problem: 'is not a known field' },
      { field: '/events/0/checksum_version', problem: 'is assigned by the server and cannot be supplied' },
    ]);
  });

  test('an empty batch, and a batch over the maximum', async () => {
    expect(await problemsOf({ events: [] })).toEqual([{ field: '/events', problem: 'must NOT have fewer than 1 items' }]);
    expect(await problemsOf({ events: Array.from({ length: 11 }, () => event()) })).toEqual([
      { field: '/events', problem: 'must NOT have more than 10 items' },
    ]);
  });

  test('over-long and empty strings', async () => {
    expect(await problemsOf(event({ action: '', user_agent: 'x'.repeat(1025) }))).toEqual([
      { field: '/action', problem: 'must NOT have fewer than 1 characters' },
      { field: '/user_agent', problem: 'must NOT have more than 1024 characters' },
    ]);
  });

  test('text PostgreSQL would refuse or alter: NUL, lone surrogates, deep nesting', async () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(await problemsOf({ events: [event(), event({ action: 'a\u0000b', details: { ['k\ud800']: 'v', ok: ['\u0000'], deep } })] })).toEqual([
      { field: '/events/1/action', problem: expect.stringContaining('NUL') },
      { field: '/events/1/details/deep' + '/d'.repeat(31), problem: 'must not nest deeper than 32 levels' },
      { field: '/events/1/details/k\ud800', problem: expect.stringContaining('well-formed') },
      { field: '/events/1/details/ok/0', problem: expect.stringContaining('NUL') },
    ]);
  });

  test('every problem of a batch is reported at once', async () => {
    const details = await problemsOf({ events: [event({ org_id: 1 }), event(), event({ ip_address: 'x', actor_type: null })] });
    expect(details.map((d) => d.field)).toEqual(['/events/0/org_id', '/events/2/actor_type', '/events/2/ip_address']);
  });
});

describe('transport errors', () => {
  test('a body over the limit is a 413 JSON error and writes nothing', async () => {
    const response = await post({ events: [event({ details: { pad: 'x'.repeat(5000) } })] });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ error: 'payload_too_large', details: [] });
    expect(await rowCount(db.pool)).toBe(0);
  });

  test('a content type other than JSON is a 415 JSON error', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await post(JSON.stringify(event()), { ...AUTH, 'content-type': type });
      expect(response.statusCode).toBe(415);
      expect(response.json()).toMatchObject({ error: 'unsupported_media_type' });
    }
    expect(await rowCount(db.pool)).toBe(0);
  });

  test('malformed or empty JSON is a 400 JSON error', async () => {
    for (const payload of ['{"org_id":', '']) {
      const response = await post(payload, { ...AUTH, 'content-type': 'application/json' });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: 'malformed_json', details: [] });
    }
    expect(await rowCount(db.pool)).toBe(0);
  });

  test('__proto__ or constructor.prototype in a body is refused by name, with where it is', async () => {
    const cases: [string, string[]][] = [
      ['{"__proto__":{"x":1},"org_id":null,"actor_type":"u","action":"a"}', ['/__proto__']],
      ['{"events":[{"org_id":null,"actor_type":"u","action":"a","details":{"a":[{"__proto__":null}]}}]}', ['/events/0/details/a/0/__proto__']],
      ['{"org_id":null,"actor_type":"u","action":"a","details":{"constructor":{"prototype":{"y":1}}}}', ['/details/constructor/prototype']],
    ];
    for (const [payload, fields] of cases) {
      const response = await post(payload, { ...AUTH, 'content-type': 'application/json' });
      expect(response.statusCode).toBe(400);
      const body = response.json();
      expect(body.error).toBe('forbidden_key');
      expect(body.message).not.toMatch(/not valid JSON/);
      expect(body.details.map((d: { field: string }) => d.field)).toEqual(fields);
    }
    // A key named constructor with no prototype inside is an ordinary key.
    const fine = await post(event({ details: { constructor: 'Array' } }));
    expect(fine.statusCode).toBe(201);
    expect(await rowCount(db.pool)).toBe(1);
  });

  test('a charset other than UTF-8 is a 415; utf-8 in any spelling is accepted', async () => {
    for (const type of ['application/json; charset=utf-16', 'application/json;charset="UTF-16LE"', 'application/json; charset=iso-8859-1']) {
      const response = await post(JSON.stringify(event()), { ...AUTH, 'content-type': type });
      expect(response.statusCode).toBe(415);
      expect(response.json()).toMatchObject({ error: 'unsupported_media_type', details: [] });
      expect(response.json().message).toContain('charset=');
    }
    expect(await rowCount(db.pool)).toBe(0);
    for (const type of ['application/json; charset=utf-8', 'application/json; charset="UTF-8"', 'application/json;charset=utf8']) {
      expect((await post(JSON.stringify(event()), { ...AUTH, 'content-type': type })).statusCode).toBe(201);
    }
    expect(await rowCount(db.pool)).toBe(3);
  });

  test("errors of Node's HTTP parser use the error shape: bad header 400, oversized headers 431", async () => {
    const server = testServer(db.pool);
    await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = server.server.address() as import('node:net').AddressInfo;
      const bad = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n');
      expect(bad.status).toBe(400);
      expect(bad.contentType).toMatch(/^application\/json/);
      expect(bad.body).toEqual({ error: 'bad_request', message: expect.stringContaining('malformed'), details: [] });

      const big = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(big.status).toBe(431);
      expect(big.body).toEqual({ error: 'headers_too_large', message: expect.stringContaining('headers'), details: [] });
    } finally {
      await server.close();
    }
  });

  test('a POST with no body at all is a 400 naming the body', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH });
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([{ field: '', problem: expect.stringContaining('JSON object') }]);
  });

  test('an unknown route is a 404 JSON error', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/nothing-here', headers: AUTH });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: 'not_found', details: [] });
  });
});
