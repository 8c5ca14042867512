// The API is meant to run as the writer role (INSERT on content columns,
// SELECT): every write must go through with exactly those privileges.
import { randomBytes } from 'node:crypto';
import { afterAll, expect, test } from 'vitest';
import { createPool } from '@audit-chain/db';
import { createTestDatabase } from '../../../test/support/database.ts';
import { AUTH, event, testServer } from './test-support.ts';

const db = await createTestDatabase();
const { rows } = await db.pool.query<{ role_name: string }>(`select role_name from audit_chain_roles where kind = 'writer'`);
const login = `audit_chain_api_test_${randomBytes(4).toString('hex')}`;
await db.pool.query(`create role ${login} login in role "${rows[0]!.role_name}"`);
const url = new URL(db.url);
url.username = login;
url.password = '';
const writerPool = createPool(url.toString(), { applicationName: 'api test as writer' });
const app = testServer(writerPool);
afterAll(async () => {
  await app.close();
  await writerPool.end();
  await db.pool.query(`drop role ${login}`);
});

test('single and batch writes succeed under the writer role', async () => {
  expect((await writerPool.query('select current_user as u')).rows[0].u).toBe(login);
  const single = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: event({ ip_address: '192.0.2.1' }) });
  expect(single.statusCode, single.body).toBe(201);
  const batch = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: { events: [event({ org_id: null }), event({ occurred_at: '2024-01-01T00:00:00Z' })] } });
  expect(batch.statusCode, batch.body).toBe(201);
  const stored = await db.pool.query(`select count(*)::int as n, count(checksum)::int as sealed from audit_logs`);
  expect(stored.rows[0]).toEqual({ n: 3, sealed: 0 });
});
