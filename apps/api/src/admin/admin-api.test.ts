import { Ajv } from 'ajv';
import { afterAll, describe, expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { createTestDatabase } from '../../../../test/support/database.ts';
import { insertRows, newOrgId, waitFor } from '../../../../test/support/audit-rows.ts';
import { OPENAPI_DOCUMENT } from '../openapi.ts';
import { ADMIN, ADMIN_TOKEN, WRITE_TOKEN, adminServer } from './test-support.ts';

const db = await createTestDatabase();
const app = adminServer(db.pool);
afterAll(() => app.close());

const orgA = newOrgId();
const orgB = newOrgId();
await insertRows(db.pool, orgA, 4);
await insertRows(db.pool, orgB, 2);
await insertRows(db.pool, null, 1);
await sealOnce(db.pool, { batchSize: 100, waitMs: 500, pollMs: 20 });
await insertRows(db.pool, orgA, 3);

const ajv = new Ajv({ strict: false, allErrors: true });
// What the lag model writes: RFC 3339 UTC with microseconds, lowercase uuids.
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/);
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
ajv.addSchema({ $id: 'openapi.json', components: OPENAPI_DOCUMENT.components });

/** Validates a response body against a schema of the OpenAPI document: the document must describe what is served. */
function expectSchema(name: string, body: unknown): void {
  const validate = ajv.getSchema(`openapi.json#/components/schemas/${name}`);
  if (!validate) throw new Error(`no schema ${name}`);
  validate(body);
  expect(validate.errors ?? [], JSON.stringify(body).slice(0, 400)).toEqual([]);
}

const get = (url: string, headers: Record<string, string> = ADMIN) => app.inject({ method: 'GET', url, headers });

const ADMIN_URLS = [
  '/admin/v1/lag',
  `/admin/v1/lag/${orgA}`,
  '/admin/v1/status',
  '/admin/v1/verifications',
  '/admin/v1/checkpoints',
  '/admin/v1/history',
  '/metrics',
];

describe('admin auth', () => {
  test.each(ADMIN_URLS)('%s: 401 without a token, 403 with a wrong one or the write token, 200 with the admin token', async (url) => {
    const none = await get(url, {});
    expect([none.statusCode, none.json().error]).toEqual([401, 'unauthorized']);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await get(url, { authorization: 'Bearer not-the-token' });
    expect([wrong.statusCode, wrong.json().error]).toEqual([403, 'forbidden']);
    const writeToken = await get(url, { authorization: `Bearer ${WRITE_TOKEN}` });
    expect([writeToken.statusCode, writeToken.json().error]).toEqual([403, 'forbidden']);
    const right = await get(url);
    expect(right.statusCode).toBe(200);
  });

  test('the admin token does not open the write routes either', async () => {
    const response = await app.inject({ method: 'GET', url: `/v1/orgs/${orgA}/audit-events`, headers: ADMIN });
    expect(response.statusCode).toBe(401);
  });

  test('with no admin token configured, or one equal to the write token, every admin route refuses (503)', async () => {
    const unset = adminServer(db.pool, { AUDIT_CHAIN_ADMIN_TOKEN: '' });
    const same = adminServer(db.pool, { AUDIT_CHAIN_ADMIN_TOKEN: WRITE_TOKEN });
    try {
      for (const server of [unset, same]) {
        for (const url of ADMIN_URLS) {
          const response = await server.inject({ method: 'GET', url, headers: { authorization: `Bearer ${WRITE_TOKEN}` } });
          expect([url, response.statusCode, response.json().error]).toEqual([url, 503, 'auth_not_configured']);
        }
      }
    } finally {
      await unset.close();
      await same.close();
    }
  });
});

describe('lag routes', () => {
  test('the overview is worst first, paginated, and matches the OpenAPI schema', async () => {
    const first = await get('/admin/v1/lag?limit=1');
    expect(first.statusCode).toBe(200);
    const page = first.json();
    expectSchema('LagOverview', page);
    expect(page.chains).toHaveLength(1);
    expect(page.next_cursor).toEqual(expect.any(String));
    const rest = (await get(`/admin/v1/lag?limit=500&cursor=${page.next_cursor}`)).json();
    expectSchema('LagOverview', rest);
    const all = (await get('/admin/v1/lag')).json();
    expect([...page.chains, ...rest.chains].map((c: { chain: string }) => c.chain)).toEqual(all.chains.map((c: { chain: string }) => c.chain));
    expect(all.totals).toMatchObject({ chains: 3, sealed_rows: 7, pending_rows: 3 });
  });

  test('bad parameters are a 400 naming each one', async () => {
    const response = await get('/admin/v1/lag?limit=0&cursor=bogus&colour=red');
    expect(response.statusCode).toBe(400);
    expectSchema('Error', response.json());
    expect(response.json().details.map((d: { field: string }) => d.field).sort()).toEqual(['colour', 'cursor', 'limit']);
    expect((await get('/admin/v1/lag/not-a-uuid')).json().details).toEqual([{ field: 'org_id', problem: expect.stringContaining('system') }]);
    expect((await get('/admin/v1/checkpoints?org=nope')).statusCode).toBe(400);
  });

  test('one chain, the system chain, and a chain without rows (404)', async () => {
    const detail = await get(`/admin/v1/lag/${orgA}`);
    expectSchema('ChainDetail', detail.json());
    expect(detail.json().chain).toMatchObject({ chain: orgA, sealed_rows: 4 });
    expect(detail.json().chain.oldest_pending).not.toBeNull();
    const system = await get('/admin/v1/lag/system');
    expect(system.json().chain).toMatchObject({ chain: 'system', org_id: null, sealed_rows: 1 });
    const missing = await get(`/admin/v1/lag/${newOrgId()}`);
    expect([missing.statusCode, missing.json().error]).toEqual([404, 'chain_not_found']);
  });

  test('status, verifications and checkpoints', async () => {
    const run = await db.pool.query<{ id: string }>(
      `insert into audit_chain_verifications (trigger, status, finished_at, chains_checked, rows_checked, breaks_found, breaks)
       values ('cli', 'clean', now(), 3, 7, 0, '[]') returning id`,
    );
    await db.pool.query(
      `insert into audit_chain_verify_status (org_id, verification_id, rows_checked, breaks_found) values ($1, $2, 4, 0), (null, $2, 1, 0)`,
      [orgA, run.rows[0]!.id],
    );
    for (let i = 1; i <= 3; i += 1) {
      await db.pool.query(
        `insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body, exported_to)
         values ($1, $2::bigint, $2::bigint, 'c' || $2::text, now() - make_interval(mins => 10 - $2::int), 'k1', 's', jsonb_build_object('n', $2::int), '{"directory":"x"}')`,
        [i === 3 ? orgB : orgA, i],
      );
    }
    const status = await get('/admin/v1/status');
    expectSchema('LagStatus', status.json());
    expect(status.json().last_verification).toMatchObject({ status: 'clean', rows_checked: 7 });
    expect(status.json().last_checkpoint).toMatchObject({ chain: orgB, chain_seq: '3' });

    const verifications = await get('/admin/v1/verifications');
    expectSchema('VerificationsPage', verifications.json());
    expect(verifications.json().latest_per_chain.map((v: { chain: string }) => v.chain).sort()).toEqual([orgA, 'system'].sort());

    const all = await get('/admin/v1/checkpoints?limit=2');
    expectSchema('CheckpointsPage', all.json());
    expect(all.json().checkpoints.map((c: { chain_seq: string }) => c.chain_seq)).toEqual(['3', '2']);
    const rest = await get(`/admin/v1/checkpoints?limit=2&cursor=${all.json().next_cursor}`);
    expect(rest.json().checkpoints.map((c: { chain_seq: string }) => c.chain_seq)).toEqual(['1']);
    expect(rest.json().next_cursor).toBeNull();
    const ofA = await get(`/admin/v1/checkpoints?org=${orgA}`);
    expect(ofA.json().checkpoints.map((c: { chain: string; chain_seq: string }) => [c.chain, c.chain_seq])).toEqual([
      [orgA, '2'],
      [orgA, '1'],
    ]);
    expect((await get('/admin/v1/checkpoints?org=system')).json().checkpoints).toEqual([]);
  });

  test('the history fills from the sampler, and throughput is measured against it', async () => {
    const sampled = adminServer(db.pool, {}, 100);
    try {
      await sampled.ready();
      await waitFor('three samples', async () => {
        const history = await sampled.inject({ method: 'GET', url: '/admin/v1/history', headers: ADMIN });
        return history.json().samples.length >= 3;
      });
      const history = (await sampled.inject({ method: 'GET', url: '/admin/v1/history', headers: ADMIN })).json();
      expectSchema('LagHistory', history);
      expect(history.interval_seconds).toBe(0.1);
      expect(history.samples.at(-1)).toMatchObject({ pending_rows: 3, sealed_rows: 7 });
      const overview = (await sampled.inject({ method: 'GET', url: '/admin/v1/lag', headers: ADMIN })).json();
      expect(overview.totals.throughput).toMatchObject({ rows_per_second: 0, method: 'sealed_count_delta' });
    } finally {
      await sampled.close();
    }
  });
});

describe('admin page', () => {
  test('is served from /admin/ with its assets and a strict Content-Security-Policy', async () => {
    const redirect = await app.inject({ method: 'GET', url: '/admin' });
    expect([redirect.statusCode, redirect.headers.location]).toEqual([308, '/admin/']);
    const page = await app.inject({ method: 'GET', url: '/admin/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).not.toMatch(/https?:\/\//);
    for (const asset of ['/admin/app.js', '/admin/admin.css']) {
      const response = await app.inject({ method: 'GET', url: asset });
      expect(response.statusCode).toBe(200);
      expect(response.body).not.toMatch(/(src|href|url)\s*[=(]\s*["']?https?:/);
    }
  });
});
