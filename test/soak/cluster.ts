// The soak's own PostgreSQL (never the machine's shared server): an embedded
// instance in a temporary data directory, which the soak may stop and start
// again on the same directory and port to restart it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate, startEmbeddedPostgres, withDatabaseName, type EmbeddedServer } from '@audit-chain/db';

const DATABASE = 'audit_chain_soak';

export interface SoakCluster {
  /** What the soak runs against: its own embedded PostgreSQL, or a database of its own on a Citus cluster (citus-cluster.ts). */
  topology: 'embedded' | 'citus';
  /** Citus: the soak database on each worker (the coordinator's is databaseUrl); empty otherwise. */
  workerUrls: string[];
  /** The data directory (embedded), or the database's name on every node (Citus). */
  dataDir: string;
  port: number;
  /** The soak database, migrated. */
  databaseUrl: string;
  /** Stops PostgreSQL (fast shutdown: open connections are cut) and starts it again on the same data. */
  restart(pauseMs: number): Promise<{ downMs: number }>;
  /** Stops PostgreSQL and, unless `keep`, removes the data directory. */
  stop(keep: boolean): Promise<void>;
}

export async function startSoakCluster(): Promise<SoakCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'audit-chain-soak-'));
  let server: EmbeddedServer | undefined = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres'), persistent: true, auth: 'trust' });
  // As root, the server's data may live elsewhere (see startEmbeddedPostgres): restart on the same.
  const pgDir = server.dataDir;
  const port = server.port;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`create database ${DATABASE}`);
  } finally {
    await admin.end();
  }
  const databaseUrl = withDatabaseName(server.url, DATABASE);
  await migrate(databaseUrl);

  return {
    topology: 'embedded',
    workerUrls: [],
    dataDir: pgDir,
    port,
    databaseUrl,
    async restart(pauseMs) {
      const stoppedAt = Date.now();
      await server?.stop();
      server = undefined;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      server = await startEmbeddedPostgres({ dataDir: pgDir, port, persistent: true, auth: 'trust' });
      return { downMs: Date.now() - stoppedAt };
    },
    async stop(keep) {
      await server?.stop();
      server = undefined;
      if (!keep) for (const dir of new Set([dataDir, pgDir])) rmSync(dir, { recursive: true, force: true });
    },
  };
}
