// A fresh database per generated scenario, cloned from the migrated template
// and dropped afterwards (fast-check runs many scenarios in one test file).
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createPool, withChainSearchPath, withDatabaseName, type Pool } from '@audit-chain/db';
import { withAdmin } from '../support/database.ts';
import '../support/provided-context.ts';

export interface ScenarioDatabase {
  url: string;
  pool: Pool;
}

export async function withScenarioDatabase<T>(work: (db: ScenarioDatabase) => Promise<T>): Promise<T> {
  const serverUrl = inject('serverUrl');
  const name = `audit_chain_test_parallel_${randomBytes(5).toString('hex')}`;
  await withAdmin(serverUrl, (admin) => admin.query(`create database ${name} template ${inject('templateDatabase')}`));
  const url = withChainSearchPath(withDatabaseName(serverUrl, name));
  const pool = createPool(url, { applicationName: 'audit-chain parallel verify test', max: 6, idleTimeoutMs: 100 });
  try {
    return await work({ url, pool });
  } finally {
    await pool.end();
    await withAdmin(serverUrl, (admin) => admin.query(`drop database if exists ${name} with (force)`));
  }
}
