// Scratch databases for one benchmark run: created with a random name on the
// benchmark's server and dropped (with force) at the end, so a run never touches
// another database on a shared server.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withChainSearchPath, withDatabaseName } from '@audit-chain/db';

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createScratchDatabase(serverUrl: string, purpose: string): Promise<ScratchDatabase> {
  const name = `audit_chain_bench_${purpose.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
  await withServer(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  let dropped = false;
  return {
    name,
    url: withChainSearchPath(withDatabaseName(serverUrl, name)),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withServer(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

export async function withServer<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'audit-chain bench' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
