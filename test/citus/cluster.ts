// The Citus cluster the Citus tests run against (scripts/citus/cluster.sh
// starts one: a coordinator and two workers). Citus 12.1 keeps its metadata
// per database, so each test file gets a database of its own on every node,
// with the extension and the node list, migrated and distributed.
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { distributeAuditLogs } from '@audit-chain/citus';
import { createPool, migrate, withChainSearchPath, withDatabaseName, type Pool } from '@audit-chain/db';
import { withAdmin } from '../support/database.ts';

export const DEFAULT_CITUS_URL = 'postgres://postgres@127.0.0.1:5451/postgres';

/** The coordinator's maintenance database (CITUS_DATABASE_URL, default the script's port 5451). */
export function citusServerUrl(): string {
  return process.env.CITUS_DATABASE_URL ?? DEFAULT_CITUS_URL;
}

export interface Node {
  host: string;
  port: number;
}

export interface CitusDatabase {
  name: string;
  /** The coordinator's URL for this database. */
  url: string;
  /** The same database on each worker. */
  workerUrls: string[];
  workers: Node[];
  /** A pool on the coordinator as the migrating superuser. */
  pool: Pool;
}

function nodeUrl(serverUrl: string, node: Node, database: string): string {
  const parsed = new URL(withDatabaseName(serverUrl, database));
  parsed.hostname = node.host;
  parsed.port = String(node.port);
  return parsed.toString();
}

/** The workers the coordinator's maintenance database knows (added by scripts/citus/cluster.sh). */
export async function clusterWorkers(serverUrl = citusServerUrl()): Promise<Node[]> {
  return withAdmin(serverUrl, async (client) => {
    const result = await client.query<{ nodename: string; nodeport: number }>(
      "select nodename, nodeport from pg_dist_node where groupid <> 0 and isactive and noderole = 'primary' order by nodeport",
    );
    if (result.rows.length === 0) throw new Error(`the Citus coordinator at ${serverUrl} has no workers: run scripts/citus/cluster.sh start`);
    return result.rows.map((row) => ({ host: row.nodename, port: row.nodeport }));
  });
}

/**
 * A fresh database on the coordinator and every worker, set up as a Citus
 * cluster, migrated, and (unless `distribute: false`) with audit_logs
 * distributed. Dropped on every node after the file's tests.
 */
export async function createCitusDatabase(options: { distribute?: boolean; shardCount?: number; migrationsFolder?: string } = {}): Promise<CitusDatabase> {
  const db = await setupCitusDatabase(options);
  afterAll(() => db.drop());
  return db;
}

/** As createCitusDatabase, outside vitest: the caller drops it. */
export async function setupCitusDatabase(
  options: { distribute?: boolean; shardCount?: number; serverUrl?: string; /** An earlier release's migrations (an upgrade test). */ migrationsFolder?: string } = {},
): Promise<CitusDatabase & { drop(): Promise<void> }> {
  const serverUrl = options.serverUrl ?? citusServerUrl();
  const workers = await clusterWorkers(serverUrl);
  const coordinator = new URL(serverUrl);
  const coordinatorNode = { host: coordinator.hostname, port: Number(coordinator.port || 5432) };
  const name = `audit_chain_citus_${randomBytes(6).toString('hex')}`;
  // Our objects live in the schema audit_chain, on the workers' shards too.
  const url = withChainSearchPath(withDatabaseName(serverUrl, name));
  const workerUrls = workers.map((node) => withChainSearchPath(nodeUrl(serverUrl, node, name)));
  for (const nodeServer of [serverUrl, ...workers.map((node) => nodeUrl(serverUrl, node, 'postgres'))]) {
    await withAdmin(nodeServer, (client) => client.query(`create database ${name}`));
  }
  for (const target of [url, ...workerUrls]) await withAdmin(target, (client) => client.query('create extension citus'));
  await withAdmin(url, async (client) => {
    await client.query('select citus_set_coordinator_host($1, $2)', [coordinatorNode.host, coordinatorNode.port]);
    for (const node of workers) await client.query('select citus_add_node($1, $2)', [node.host, node.port]);
  });
  await migrate(url, {}, options.migrationsFolder === undefined ? {} : { migrationsFolder: options.migrationsFolder });
  if (options.distribute !== false) {
    await withAdmin(url, (client) => distributeAuditLogs(client, { shardCount: options.shardCount }));
  }
  const pool = createPool(url, { applicationName: 'audit-chain citus test', max: 40 });
  return {
    name,
    url,
    workerUrls,
    workers,
    pool,
    drop: async () => {
      await pool.end();
      await dropCitusDatabase(serverUrl, workers, name);
    },
  };
}

async function dropCitusDatabase(serverUrl: string, workers: Node[], name: string): Promise<void> {
  const nodes = [serverUrl, ...workers.map((node) => nodeUrl(serverUrl, node, 'postgres'))];
  // A prepared transaction a test left behind keeps its database from being dropped.
  for (const nodeServer of nodes) {
    const prepared = await withAdmin(nodeServer, (client) =>
      client.query<{ gid: string }>('select gid from pg_prepared_xacts where database = $1', [name]),
    ).catch(() => ({ rows: [] as { gid: string }[] }));
    for (const { gid } of prepared.rows) {
      await withAdmin(withDatabaseName(nodeServer, name), (client) => client.query(`rollback prepared '${gid}'`)).catch(() => {});
    }
  }
  // The coordinator first: its maintenance daemon and cached connections to the workers go with it.
  for (const nodeServer of nodes) {
    await withAdmin(nodeServer, (client) => client.query(`drop database if exists ${name} with (force)`)).catch(() => {});
  }
}
