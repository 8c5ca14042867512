import { createServer, type Socket } from 'node:net';
import { expect, test } from 'vitest';
import { createPool, type Pool } from '@audit-chain/db';
import { createTestDatabase } from '../../../test/support/database.ts';
import { closedPort, testServer } from './test-support.ts';

const db = await createTestDatabase();

async function probe(pool: Pool, url: string) {
  const app = testServer(pool);
  try {
    return await app.inject({ method: 'GET', url });
  } finally {
    await app.close();
  }
}

test('/healthz and /readyz answer 200 with a reachable database', async () => {
  const health = await probe(db.pool, '/healthz');
  expect([health.statusCode, health.json()]).toEqual([200, { status: 'ok' }]);
  const ready = await probe(db.pool, '/readyz');
  expect([ready.statusCode, ready.json()]).toEqual([200, { status: 'ready' }]);
});

test('with the database down, /readyz is a 503 JSON error while /healthz stays 200', async () => {
  const pool = createPool(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, { applicationName: 'api test' });
  try {
    const ready = await probe(pool, '/readyz');
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ error: 'not_ready', message: expect.any(String), details: [] });
    expect((await probe(pool, '/healthz')).statusCode).toBe(200);
  } finally {
    await pool.end();
  }
});

test('a database that accepts connections but never answers makes /readyz a 503 within its timeout', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => void sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  const pool = createPool(`postgres://postgres@127.0.0.1:${port}/postgres`, { applicationName: 'api test' });
  try {
    const started = performance.now();
    const ready = await probe(pool, '/readyz');
    expect(ready.statusCode).toBe(503);
    expect(performance.now() - started).toBeLessThan(5000);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await pool.end();
  }
});
