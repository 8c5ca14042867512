// Before the Citus tests: the cluster must be up, with Citus and its workers.
import pg from 'pg';
import { citusServerUrl, clusterWorkers } from './cluster.ts';

export default async function setup(): Promise<void> {
  const url = citusServerUrl();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`no Citus coordinator at ${url} (${(error as Error).message}): run scripts/citus/cluster.sh start, or set CITUS_DATABASE_URL`);
  }
  try {
    const version = await client.query<{ extversion: string }>("select extversion from pg_extension where extname = 'citus'");
    if (!version.rows[0]) throw new Error(`${url} has no citus extension: run scripts/citus/cluster.sh start`);
  } finally {
    await client.end();
  }
  await clusterWorkers(url);
}
