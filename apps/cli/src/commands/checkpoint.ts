// audit-chain checkpoint: signs the current head of every chain (or one) now,
// records it and exports it to the configured sinks, like the worker's rounds
// do on their schedule. Needs the signing key (AUDIT_CHAIN_SIGNING_KEY_FILE or
// AUDIT_CHAIN_SIGNING_KEY, with AUDIT_CHAIN_SIGNING_KEY_ID).
import { createPool } from '@audit-chain/db';
import { chainId, runCheckpointRound, signerFromConfig, sinksFromConfig } from '@audit-chain/verification';
import type { RegisterCommand } from '../context.ts';
import { CliError } from '../errors.ts';
import { chainOrgId, parseChain } from './verify.ts';

export const registerCheckpoint: RegisterCommand = (program, context) => {
  program
    .command('checkpoint')
    .description('sign the chain heads now, record the checkpoints and export them (directory, webhook)')
    .option('--org <id>', 'only this chain: an organization id, or "system" for rows without one', parseChain)
    .addHelpText(
      'after',
      `
Exit status: 0 when every checkpoint was signed and exported, 1 when no signing
key is configured, a sink failed (the checkpoint is recorded and the worker
exports it on its next round) or a chain's state contradicts its rows.`,
    )
    .action(async (options: { org?: string }) => {
      const orgId = chainOrgId(options.org);
      const config = context.config();
      const signer = signerFromConfig(config);
      if (!signer) {
        throw new CliError('no signing key configured: set AUDIT_CHAIN_SIGNING_KEY_FILE (or AUDIT_CHAIN_SIGNING_KEY) and AUDIT_CHAIN_SIGNING_KEY_ID; `audit-chain keygen` creates a key pair');
      }
      const sinks = sinksFromConfig(config);
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain checkpoint', max: 2 });
      try {
        const result = await runCheckpointRound(pool, { signer, sinks, policy: 'requested', orgId, waitForLock: true });
        for (const checkpoint of result.signed) {
          context.out(`signed chain ${chainId(checkpoint.org_id)} at chain_seq ${checkpoint.chain_seq} (${checkpoint.sealed_count} rows, head ${checkpoint.checksum}) with key ${checkpoint.key_id}`);
        }
        if (result.signed.length === 0 && result.skipped.length === 0) {
          context.out(orgId === undefined ? 'no sealed chain to sign' : `chain ${chainId(orgId)} has nothing sealed to sign`);
        }
        for (const sink of sinks) {
          if (result.exported[sink.name]) context.out(`exported ${result.exported[sink.name]} checkpoint(s) to ${sink.name} ${sink.target}`);
        }
        for (const skipped of result.skipped) context.warn(`chain ${chainId(skipped.orgId)} not signed: ${skipped.message}`);
        for (const failure of result.failures) context.warn(`${failure.message} (recorded; the worker retries the export)`);
        const problems = result.skipped.length + result.failures.length;
        if (problems > 0) throw new CliError(`${problems} problem(s): ${result.skipped.length} chain(s) not signed, ${result.failures.length} sink failure(s)`);
      } finally {
        await pool.end();
      }
    });
};
