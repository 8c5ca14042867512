// audit-chain checkpoint: signs the current head of every chain (or one) now,
// audit_logs' and every attached table's, records it and exports it to the
// configured sinks, like the worker's rounds do on their schedule. Needs the signing key (AUDIT_CHAIN_SIGNING_KEY_FILE or
// AUDIT_CHAIN_SIGNING_KEY, with AUDIT_CHAIN_SIGNING_KEY_ID).
import { Option } from 'commander';
import { chainLabel } from '@audit-chain/sealing';
import { createPool } from '@audit-chain/db';
import { chainId, runCheckpointRound, signerFromConfig, sinksFromConfig, UnknownTableError } from '@audit-chain/verification';
import type { RegisterCommand } from '../context.ts';
import { CliError } from '../errors.ts';
import { chainOrgId, parseChain } from './verify.ts';

export const registerCheckpoint: RegisterCommand = (program, context) => {
  program
    .command('checkpoint')
    .description('sign the chain heads now (audit_logs and every attached table), record the checkpoints and export them (directory, webhook)')
    .addOption(new Option('--org <id>', 'only this chain of audit_logs: an organization id, or "system" for rows without one').argParser(parseChain).conflicts('table'))
    .option('--table <name>', 'only the chains of this attached table ("schema.table" or the table\'s name)')
    .addHelpText(
      'after',
      `
Exit status: 0 when every checkpoint was signed and exported, 1 when no signing
key is configured, a sink failed (the checkpoint is recorded and the worker
exports it on its next round) or a chain's state contradicts its rows.`,
    )
    .action(async (options: { org?: string; table?: string }) => {
      const orgId = chainOrgId(options.org);
      const config = context.config();
      const signer = signerFromConfig(config);
      if (!signer) {
        throw new CliError('no signing key configured: set AUDIT_CHAIN_SIGNING_KEY_FILE (or AUDIT_CHAIN_SIGNING_KEY) and AUDIT_CHAIN_SIGNING_KEY_ID; `audit-chain keygen` creates a key pair');
      }
      const sinks = sinksFromConfig(config);
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain checkpoint', max: 2 });
      try {
        let result;
        try {
          result = await runCheckpointRound(pool, { signer, sinks, policy: 'requested', orgId, table: options.table, waitForLock: true });
        } catch (error) {
          if (error instanceof UnknownTableError) throw new CliError(error.message, { exitCode: 2 });
          throw error;
        }
        for (const checkpoint of result.signed) {
          context.out(`signed chain ${chainId(checkpoint.org_id)} at chain_seq ${checkpoint.chain_seq} (${checkpoint.sealed_count} rows, head ${checkpoint.checksum}) with key ${checkpoint.key_id}`);
        }
        for (const checkpoint of result.signedTables) {
          const chain = chainLabel(checkpoint, checkpoint.chain_key, checkpoint.chain_key !== null);
          context.out(`signed ${chain} at chain_seq ${checkpoint.chain_seq} (${checkpoint.sealed_count} rows, head ${checkpoint.checksum}) with key ${checkpoint.key_id}`);
        }
        const skipped = [
          ...result.skipped.map((entry) => ({ chain: `chain ${chainId(entry.orgId)}`, message: entry.message })),
          ...result.skippedTables.map((entry) => ({ chain: entry.chain, message: entry.message })),
        ];
        if (result.signed.length + result.signedTables.length === 0 && skipped.length === 0) {
          context.out(
            orgId !== undefined ? `chain ${chainId(orgId)} has nothing sealed to sign` : options.table !== undefined ? `table ${options.table} has nothing sealed to sign` : 'no sealed chain to sign',
          );
        }
        for (const sink of sinks) {
          if (result.exported[sink.name]) context.out(`exported ${result.exported[sink.name]} checkpoint(s) to ${sink.name} ${sink.target}`);
        }
        for (const entry of skipped) context.warn(`${entry.chain} not signed: ${entry.message}`);
        for (const failure of result.failures) context.warn(`${failure.message} (recorded; the worker retries the export)`);
        const problems = skipped.length + result.failures.length;
        if (problems > 0) throw new CliError(`${problems} problem(s): ${skipped.length} chain(s) not signed, ${result.failures.length} sink failure(s)`);
      } finally {
        await pool.end();
      }
    });
};
