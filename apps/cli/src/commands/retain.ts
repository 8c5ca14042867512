// audit-chain retain --older-than 400d: deletes each chain's oldest rows as a
// checkpointed prefix, as the retention role. The checkpoint at each cut is
// signed with the worker's key and exported through the same sinks as the
// worker's checkpoints before anything is deleted.
import { InvalidArgumentError } from 'commander';
import { assertRetentionLayout, refuseOnCitus } from '@audit-chain/citus';
import { createPool } from '@audit-chain/db';
import { isLifecycleRefusal, LifecycleError, parseDuration, retainAttachedTable, retainChains, type AttachedRetentionCut, type RetentionCut } from '@audit-chain/lifecycle';
import { keyringFromConfig, signerFromConfig, sinksFromConfig } from '@audit-chain/verification';
import { CliError } from '../errors.ts';
import type { CliContext, RegisterCommand } from '../context.ts';

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
}

export const registerRetain: RegisterCommand = (program, context) => {
  program
    .command('retain')
    .description('delete audit rows older than a limit, as a signed-checkpointed prefix of each chain (retention role)')
    .requiredOption('--older-than <duration>', 'delete rows recorded longer ago than this, e.g. 400d (units s, m, h, d, w)')
    .option('--dry-run', 'report what would be deleted, change nothing')
    .option('--org <uuid>', 'one chain only ("system" for the system chain)')
    .option('--table <name>', 'an attached table (schema.table) instead of audit_logs')
    .option('--time-column <column>', "with --table: the covered timestamp column that tells a row's age (default: the attach's first --order-by column)")
    .option('--chain <key>', 'with --table: one chain only (the chain key as text)')
    .option('--batch-rows <n>', 'most rows deleted per cut (one checkpoint and one transaction each)', positiveInt, 50_000)
    .option('--keyring <file>', 'JSON keyring the checkpoint at each cut must verify under (default: AUDIT_CHAIN_KEYRING_FILE)')
    .addHelpText(
      'after',
      `
For each chain: the cut is the last row of the chain's oldest rows that were all
recorded before the limit, strictly below the chain's head (the head row always
stays). A checkpoint naming that row (its chain_seq, checksum and position from
the chain's first row) is signed with AUDIT_CHAIN_SIGNING_KEY(_FILE), recorded
recorded as the signer role and exported to the checkpoint directory (and
webhook, when configured); only then, and only if the recorded checkpoint's
signature verifies under the keyring, are the rows up to and including it
deleted. Verification then starts from that checkpoint. The login must be a
member of the signer and retention roles (audit_chain_roles, default
audit_chain_signer and audit_chain_retention).
With --table the same happens on an attached table, each chain's rows ordered
by chain_seq and aged by --time-column (a timestamp without time zone is read
as UTC; a NULL time is never old enough); the checkpoints name the table and
the chain key (version 2) and go to checkpoints-*.jsonl in the checkpoint
directory and are recorded with the cut (not in audit_chain_checkpoints), so
the login needs the retention role and SELECT on the table, not the signer
role. Without --table only audit_logs is touched: a product's rows are deleted
only when their table is named.
Exit status: 0 when every chain was cut as asked (or nothing was old enough),
1 when a chain could not be cut (its rows are kept) or the command could not run.`,
    )
    .action(async (options: { olderThan: string; dryRun?: boolean; org?: string; batchRows: number; keyring?: string; table?: string; timeColumn?: string; chain?: string }) => {
      const now = context.now();
      const olderThan = new Date(now.getTime() - parseDuration(options.olderThan));
      if (options.table === undefined && (options.timeColumn !== undefined || options.chain !== undefined)) throw new CliError('--time-column and --chain apply to an attached table: give --table too');
      if (options.table !== undefined && options.org !== undefined) throw new CliError('--org selects a chain of audit_logs; for an attached table use --chain');
      const config = context.config();
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain retain', max: 2 });
      if (options.table !== undefined) {
        try {
          await refuseOnCitus(pool, 'retainTable');
          await retainAttached(context, pool, { ...options, table: options.table }, olderThan);
        } catch (error) {
          if (isLifecycleRefusal(error) || error instanceof LifecycleError) throw new CliError(error.message);
          throw error;
        } finally {
          await pool.end();
        }
        return;
      }
      const orgId = options.org === undefined ? undefined : options.org === 'system' ? null : options.org;
      const report = (cut: RetentionCut) =>
        cut.partition === undefined &&
        context.out(
          options.dryRun
            ? `would delete ${cut.rows} rows of chain ${cut.orgId ?? 'system'} up to chain_seq ${cut.cutSeq}`
            : `deleted ${cut.rows} rows of chain ${cut.orgId ?? 'system'} up to chain_seq ${cut.cutSeq} (checkpoint sealed_count ${cut.checkpoint?.sealed_count}, key ${cut.checkpoint?.key_id})`,
        );
      try {
        await assertRetentionLayout(pool);
        const result = await retainChains(pool, {
          olderThan,
          orgId,
          dryRun: options.dryRun ?? false,
          batchRows: options.batchRows,
          signer: options.dryRun ? null : signerFromConfig(config),
          keyring: options.dryRun ? null : keyringFromConfig(config, options.keyring),
          sinks: options.dryRun ? [] : sinksFromConfig(config),
          onCut: report,
        });
        for (const partition of result.partitions) {
          if (partition.skipped) context.out(`partition ${partition.partition} stays (its rows go row by row): ${partition.skipped}`);
          else context.out(`${options.dryRun ? 'would drop' : 'dropped'} partition ${partition.partition}: ${partition.rows} rows of ${partition.chains} chains, after a checkpoint at each chain's last row in it`);
        }
        const verb = options.dryRun ? 'would delete' : 'deleted';
        const cutChains = result.chains.filter((chain) => chain.cuts > 0).length;
        context.out(`${verb} ${result.deleted} rows recorded before ${olderThan.toISOString()} in ${cutChains} chain${cutChains === 1 ? '' : 's'}`);
        for (const chain of result.chains) if (chain.error) context.warn(`chain ${chain.orgId ?? 'system'} kept its rows: ${chain.error}`);
        if (result.failed > 0) throw new CliError(`${result.failed} chain(s) could not be cut`);
      } catch (error) {
        if (isLifecycleRefusal(error)) throw new CliError(error.message);
        throw error;
      } finally {
        await pool.end();
      }
    });
};

async function retainAttached(context: CliContext, pool: Parameters<typeof retainAttachedTable>[0], options: { table: string; timeColumn?: string; chain?: string; dryRun?: boolean; batchRows: number; keyring?: string }, olderThan: Date): Promise<void> {
  const config = context.config();
  const report = (cut: AttachedRetentionCut) =>
    context.out(
      options.dryRun
        ? `would delete ${cut.rows} rows of ${cut.chain} up to chain_seq ${cut.cutSeq}`
        : `deleted ${cut.rows} rows of ${cut.chain} up to chain_seq ${cut.cutSeq} (checkpoint sealed_count ${cut.checkpoint?.sealed_count}, key ${cut.checkpoint?.key_id})`,
    );
  const result = await retainAttachedTable(pool, {
    table: options.table,
    ...(options.timeColumn === undefined ? {} : { timeColumn: options.timeColumn }),
    ...(options.chain === undefined ? {} : { chainKey: options.chain }),
    olderThan,
    dryRun: options.dryRun ?? false,
    batchRows: options.batchRows,
    signer: options.dryRun ? null : signerFromConfig(config),
    keyring: options.dryRun ? null : keyringFromConfig(config, options.keyring),
    sinks: options.dryRun ? [] : sinksFromConfig(config),
    now: () => context.now(),
    onCut: report,
  });
  const cutChains = result.chains.filter((chain) => chain.cuts > 0).length;
  context.out(`${options.dryRun ? 'would delete' : 'deleted'} ${result.deleted} rows of ${result.table} whose ${result.timeColumn} is before ${olderThan.toISOString()} in ${cutChains} chain${cutChains === 1 ? '' : 's'}`);
  for (const chain of result.chains) if (chain.error) context.warn(`${chain.chain} kept its rows: ${chain.error}`);
  if (result.failed > 0) throw new CliError(`${result.failed} chain(s) could not be cut`);
}
