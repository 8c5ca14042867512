import pg from 'pg';
import { withChainSearchPath } from './chain-schema.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  /** Shown in pg_stat_activity, so operators can tell the API, the worker and the CLI apart. */
  applicationName: string;
  max?: number;
  /** How long to wait for a connection before failing (a full pool or an unresponsive server). */
  connectionTimeoutMs?: number;
  /** How long an idle connection stays open (pg's default: 10 s). */
  idleTimeoutMs?: number;
}

export function createPool(databaseUrl: string, options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: withChainSearchPath(databaseUrl),
    application_name: options.applicationName,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 10_000,
  });
  // An idle client whose backend was terminated emits 'error' on the pool, and a
  // checked-out one (between two statements of a transaction) on itself; without
  // listeners either would crash the process. The failure still surfaces as the
  // error of the next query on that client, and the pool replaces the client.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** Runs `work` in a transaction on one client; rolls back on any error. */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
