// Each test file gets its own database, cloned from the migrated template.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { createPool, withChainSearchPath, withDatabaseName, type Pool } from '@audit-chain/db';
import './provided-context.ts';

export interface TestDatabase {
  url: string;
  name: string;
  /** A pool connected as the migrating (super)user. */
  pool: Pool;
}

/**
 * Clones the template into a fresh database for the calling test file and drops
 * it after the file's tests. Call at the top level of a test file.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('serverUrl');
  const template = inject('templateDatabase');
  const name = `audit_chain_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(serverUrl, (admin) => admin.query(`create database ${name} template ${template}`));
  // Our search_path in the URL itself, so psql and child processes given it find our objects too.
  const url = withChainSearchPath(withDatabaseName(serverUrl, name));
  const pool = createPool(url, { applicationName: 'audit-chain test', max: 40 });
  afterAll(async () => {
    await pool.end();
    await withAdmin(serverUrl, (admin) => admin.query(`drop database if exists ${name} with (force)`));
  });
  return { url, name, pool };
}

export async function withAdmin<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A single dedicated connection (for holding a transaction open, or acting as a role). */
export async function connect(url: string, applicationName = 'audit-chain test'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: withChainSearchPath(url), application_name: applicationName });
  client.on('error', () => {});
  await client.connect();
  return client;
}
