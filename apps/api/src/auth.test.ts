import { afterAll, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../../../test/support/database.ts';
import { AUTH, event, ORG_A, rowCount, testServer, TOKEN } from './test-support.ts';

const db = await createTestDatabase();
const app = testServer(db.pool);
const unconfigured = testServer(db.pool, { AUDIT_CHAIN_API_TOKEN: '' });
afterAll(async () => {
  await app.close();
  await unconfigured.close();
});

const write = (headers: Record<string, string>, payload: unknown = event()) =>
  app.inject({ method: 'POST', url: '/v1/audit-events', headers, payload: payload as object });
const read = (headers: Record<string, string>) => app.inject({ method: 'GET', url: `/v1/orgs/${ORG_A}/audit-events`, headers });

describe('bearer token', () => {
  test('a missing token is a 401 with a Bearer challenge, and nothing is written', async () => {
    for (const response of [await write({}), await read({})]) {
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
      expect(response.json()).toMatchObject({ error: 'unauthorized', details: [] });
    }
    expect(await rowCount(db.pool)).toBe(0);
  });

  test('a wrong token, of the same or another length, or another scheme, is a 401', async () => {
    const wrong = [
      `Bearer ${TOKEN.slice(0, -1)}x`,
      `Bearer ${TOKEN}x`,
      'Bearer ',
      `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`,
      TOKEN,
      `Bearer ${TOKEN} extra`,
    ];
    for (const authorization of wrong) {
      expect((await write({ authorization })).statusCode, authorization).toBe(401);
      expect((await read({ authorization })).statusCode, authorization).toBe(401);
    }
    expect(await rowCount(db.pool)).toBe(0);
  });

  test('authentication comes before the body is read: a bad body with a bad token is a 401', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/audit-events',
      headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
      payload: '{not json',
    });
    expect(response.statusCode).toBe(401);
  });

  test('the right token writes and reads; the scheme is case-insensitive', async () => {
    expect((await write(AUTH)).statusCode).toBe(201);
    expect((await write({ authorization: `bearer ${TOKEN}` })).statusCode).toBe(201);
    const response = await read(AUTH);
    expect(response.statusCode).toBe(200);
    expect(response.json().events).toHaveLength(2);
    expect(await rowCount(db.pool)).toBe(2);
  });

  test('with no token configured every audit route refuses, even a request that sends one', async () => {
    const before = await rowCount(db.pool);
    for (const headers of [{}, AUTH, { authorization: 'Bearer ' }]) {
      const writeResponse = await unconfigured.inject({ method: 'POST', url: '/v1/audit-events', headers, payload: event() });
      const readResponse = await unconfigured.inject({ method: 'GET', url: `/v1/orgs/${ORG_A}/audit-events`, headers });
      for (const response of [writeResponse, readResponse]) {
        expect(response.statusCode).toBe(503);
        expect(response.json()).toMatchObject({ error: 'auth_not_configured', message: expect.stringContaining('AUDIT_CHAIN_API_TOKEN') });
      }
    }
    expect(await rowCount(db.pool)).toBe(before);
  });

  test('the probes need no token', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
