// HEALTHCHECK of the worker container: healthy while a worker of this host
// (the container) has written its heartbeat row in the last 30 seconds and has
// not stopped. A worker that cannot reach the database is not sealing either,
// so it is reported unhealthy too.
import { hostname } from 'node:os';
import pg from 'pg';

const client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 3000 });
try {
  await client.connect();
  const result = await client.query(
    `select 1 from audit_chain_workers
      where hostname = $1 and stopped_at is null and heartbeat_at > now() - interval '30 seconds' limit 1`,
    [hostname()],
  );
  process.exitCode = result.rowCount === 1 ? 0 : 1;
} catch {
  process.exitCode = 1;
} finally {
  await client.end().catch(() => {});
}
