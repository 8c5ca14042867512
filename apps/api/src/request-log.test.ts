// The API's log at the default level: one line per write or error, nothing for
// an admin tab polling, and the HTTP errors of every kind in one line each.
import { PassThrough } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { afterAll, expect, test } from 'vitest';
import { loadConfig } from '@audit-chain/config';
import { createLogger } from '@audit-chain/logging';
import { createTestDatabase } from '../../../test/support/database.ts';
import { buildServer } from './server.ts';
import { AUTH, event, TOKEN } from './test-support.ts';

const db = await createTestDatabase();
const output = new PassThrough();
let text = '';
output.on('data', (chunk: Buffer) => (text += chunk.toString()));
const ADMIN_TOKEN = 'test-admin-token-log';
const config = loadConfig({ AUDIT_CHAIN_API_TOKEN: TOKEN, AUDIT_CHAIN_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'info' });
const app = buildServer({
  pool: db.pool,
  config,
  loggerInstance: createLogger({ level: 'info', output, pretty: false }) as FastifyBaseLogger,
  adminSampleIntervalMs: 0,
});
afterAll(() => app.close());

function linesSince(mark: number): Record<string, unknown>[] {
  return text.slice(mark).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('a write is one line with method, path, status and time', async () => {
  await app.ready();
  const mark = text.length;
  const response = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: event() });
  expect(response.statusCode).toBe(201);
  const lines = linesSince(mark);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ level: 30, method: 'POST', url: '/v1/audit-events', status: 201, msg: expect.stringMatching(/^POST \/v1\/audit-events 201 \d+ ms$/) });
});

test('an open admin tab (status, lag, verifications every 5 s) and Prometheus scrapes add nothing at info', async () => {
  const mark = text.length;
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  for (let poll = 0; poll < 4; poll++) {
    for (const url of ['/admin/v1/status', '/admin/v1/lag', '/admin/v1/verifications', '/admin/v1/history', '/metrics', '/admin/app.js']) {
      expect((await app.inject({ method: 'GET', url, headers: admin })).statusCode).toBe(200);
    }
  }
  expect(linesSince(mark)).toEqual([]);
});

test('a client error is one line naming its code; a wrong token too', async () => {
  const mark = text.length;
  await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: { org_id: 'nope' } });
  await app.inject({ method: 'GET', url: '/admin/v1/status', headers: AUTH });
  const lines = linesSince(mark);
  expect(lines.map((line) => line.msg)).toEqual([
    expect.stringMatching(/^POST \/v1\/audit-events 400 validation_failed \d+ ms$/),
    expect.stringMatching(/^GET \/admin\/v1\/status 403 \w+ \d+ ms$/),
  ]);
});
