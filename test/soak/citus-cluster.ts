// The soak against a Citus cluster (`npm run soak -- --citus`): a database of
// its own on the coordinator and on every worker, migrated, with audit_logs
// distributed by org_id (test/citus/cluster.ts does it as the Citus tests do).
// The cluster itself is shared and long-lived: the soak never stops or
// restarts a node, so its restart fault is replaced (faults.ts).
import { setupCitusDatabase } from '../citus/cluster.ts';
import type { SoakCluster } from './cluster.ts';

export async function startCitusSoakCluster(serverUrl: string): Promise<SoakCluster> {
  const db = await setupCitusDatabase({ serverUrl });
  const coordinator = new URL(serverUrl);
  return {
    topology: 'citus',
    workerUrls: db.workerUrls,
    dataDir: db.name,
    port: Number(coordinator.port || 5432),
    databaseUrl: db.url,
    async restart() {
      throw new Error('the soak does not restart the nodes of a Citus cluster (it is shared): plan no restart-postgres fault');
    },
    async stop(keep) {
      if (keep) await db.pool.end();
      else await db.drop();
    },
  };
}
