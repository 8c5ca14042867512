// audit-chain partition convert | create | list: a time-partitioned audit_logs
// (monthly partitions of recorded_at). Convert once (it takes a moment's
// exclusive lock, after preparing without blocking writers); schedule create
// monthly so the months ahead exist (a DEFAULT partition catches a row beyond
// them, so an insert never fails).
import { InvalidArgumentError } from 'commander';
import { refuseOnCitus } from '@audit-chain/citus';
import { createPool } from '@audit-chain/db';
import { convertToPartitioned, createPartitions, isLifecycleRefusal, isPartitioned, listPartitions, type PartitionInfo } from '@audit-chain/lifecycle';
import { CliError } from '../errors.ts';
import type { CliContext, RegisterCommand } from '../context.ts';

function nonNegativeInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('must be a whole number, 0 or more');
  return parsed;
}

function describePartition(partition: PartitionInfo): string {
  const range = partition.isDefault ? 'DEFAULT (rows beyond the last month)' : `${partition.from?.toISOString() ?? 'MINVALUE'} .. ${partition.to?.toISOString()}`;
  return `${partition.name.padEnd(24)} ${range}  ~${Math.max(partition.estimatedRows, 0)} rows`;
}

async function withPool(context: CliContext, name: string, work: (pool: ReturnType<typeof createPool>) => Promise<void>): Promise<void> {
  const pool = createPool(context.databaseUrl(), { applicationName: `audit-chain partition ${name}`, max: 2 });
  try {
    await refuseOnCitus(pool, 'partition');
    await work(pool);
  } catch (error) {
    if (isLifecycleRefusal(error)) throw new CliError(error.message);
    throw error;
  } finally {
    await pool.end();
  }
}

export const registerPartition: RegisterCommand = (program, context) => {
  const partition = program
    .command('partition')
    .description('partition audit_logs by month of recorded_at: convert it, create the months ahead, list the partitions');

  partition
    .command('convert')
    .description('convert audit_logs into monthly partitions, without rewriting a row (run as the table owner)')
    .option('--months-ahead <n>', 'months to create after the first new one', nonNegativeInt, 3)
    .option('--dry-run', 'say what would be done, change nothing')
    .addHelpText(
      'after',
      `
Builds a unique index on (id, recorded_at) concurrently and validates a CHECK on
recorded_at without blocking inserts, then, in one short transaction under an
exclusive lock, makes the existing table the first partition (up to the start of
next month), creates the months ahead and a DEFAULT partition, and moves grants,
views and triggers to the partitioned table. Afterwards it claims the links of
the rows sealed before, so that no chain can fork across partitions.`,
    )
    .action((options: { monthsAhead: number; dryRun?: boolean }) =>
      withPool(context, 'convert', async (pool) => {
        const result = await convertToPartitioned(pool, { monthsAhead: options.monthsAhead, dryRun: options.dryRun ?? false, now: context.now(), onMessage: context.out });
        if (result.converted) context.out(`converted: ${result.partitions.length} partitions; ${result.claimedLinks} links of earlier rows claimed`);
        for (const fork of result.forks) context.warn(`fork: chain ${fork.orgId ?? 'system'} row chain_seq ${fork.chainSeq} links to ${fork.prevChecksum}, already claimed by chain_seq ${fork.claimedBy}`);
        for (const part of result.partitions) context.out(describePartition(part));
        if (result.forks.length > 0) throw new CliError(`${result.forks.length} forked link(s) found: run audit-chain verify`);
      }),
    );

  partition
    .command('create')
    .description('create the partitions of this month and the months ahead (schedule it monthly)')
    .option('--months-ahead <n>', 'months to create after the current one', nonNegativeInt, 3)
    .action((options: { monthsAhead: number }) =>
      withPool(context, 'create', async (pool) => {
        const names = await createPartitions(pool, { monthsAhead: options.monthsAhead, from: context.now() });
        context.out(`partitions present: ${names.join(', ')}`);
      }),
    );

  partition
    .command('list')
    .description('list the partitions of audit_logs')
    .action(() =>
      withPool(context, 'list', async (pool) => {
        if (!(await isPartitioned(pool))) {
          context.out('audit_logs is not partitioned');
          return;
        }
        for (const part of await listPartitions(pool)) context.out(describePartition(part));
      }),
    );
};
