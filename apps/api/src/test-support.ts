// Shared by the API's test files: a server on a test database, auth headers and
// event builders. Not imported by the server.
import { loadConfig } from '@audit-chain/config';
import type { Pool } from '@audit-chain/db';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './server.ts';

export const TOKEN = 'test-write-token-7c1e';
export const AUTH = { authorization: `Bearer ${TOKEN}` };
export const ORG_A = '0190a5f0-0000-7000-8000-00000000000a';
export const ORG_B = '0190a5f0-0000-7000-8000-00000000000b';

export function testServer(pool: Pool, env: Record<string, string> = {}): FastifyInstance {
  const config = loadConfig({ AUDIT_CHAIN_API_TOKEN: TOKEN, AUDIT_CHAIN_MAX_BATCH: '10', ...env });
  return buildServer({ pool, config, logger: false, readyTimeoutMs: 1000 });
}

export function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { org_id: ORG_A, actor_type: 'user', actor_id: 'u-1', action: 'user.login', ...overrides };
}

export async function rowCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from audit_logs');
  return rows[0]!.n;
}

/** A port nothing listens on: the OS handed it out and it was closed again. */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
