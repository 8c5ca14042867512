// audit-chain citus: run audit-chain on a Citus cluster. `distribute`
// distributes audit_logs by its chain key (org_id) and installs the
// cluster-wide listing of open audit writers the safe horizon needs there
// (packages/citus); `status` says what this database is.
import { InvalidArgumentError } from 'commander';
import pg from 'pg';
import { CitusDistributeError, distributeAuditLogs, readCitusTopology } from '@audit-chain/citus';
import type { RegisterCommand } from '../context.ts';
import { CliError } from '../errors.ts';

function shardCount(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 64_000) throw new InvalidArgumentError('must be an integer from 1 to 64000');
  return parsed;
}

export const registerCitus: RegisterCommand = (program, context) => {
  const citus = program.command('citus').description('run on a Citus cluster: distribute audit_logs by org_id, show the topology');
  citus
    .command('distribute')
    .description('distribute audit_logs by its chain key (org_id) and make the safe horizon cluster-wide (idempotent; run after migrate, as the owner of audit_logs, on the coordinator)')
    .option('--shard-count <n>', "shards of audit_logs (default: the cluster's citus.shard_count)", shardCount)
    .action(async (options: { shardCount?: number }) => {
      const client = await connect(context.databaseUrl());
      try {
        const result = await distributeAuditLogs(client, { shardCount: options.shardCount });
        const { topology } = result;
        context.out(
          `${result.distributed ? 'distributed' : 'already distributed'}: audit_logs by org_id in ${topology.shardCount} shards on ` +
            `${topology.workers.map((node) => `${node.host}:${node.port}`).join(', ')}; the safe horizon lists the open writers of every node`,
        );
      } catch (error) {
        if (error instanceof CitusDistributeError) throw new CliError(error.message, { cause: error });
        throw error;
      } finally {
        await client.end();
      }
    });
  citus
    .command('status')
    .description('whether this database runs on Citus, its workers, and how audit_logs is distributed')
    .action(async () => {
      const client = await connect(context.databaseUrl());
      try {
        const topology = await readCitusTopology(client);
        if (!topology.installed) context.out('not a Citus database (no citus extension)');
        else {
          context.out(`citus ${topology.version}, workers: ${topology.workers.map((node) => `${node.host}:${node.port}`).join(', ') || 'none'}`);
          context.out(
            topology.distributed
              ? `audit_logs distributed by ${topology.distributionColumn} in ${topology.shardCount} shards`
              : 'audit_logs is not distributed: run `audit-chain citus distribute`',
          );
        }
      } finally {
        await client.end();
      }
    });
};

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'audit-chain citus' });
  client.on('error', () => {});
  await client.connect();
  return client;
}
