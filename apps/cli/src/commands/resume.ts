// audit-chain resume --org <id>: resumes sealing of a halted chain after
// verifying it in full (packages/verification/src/resume-chain.ts). Exit
// status: 0 resumed (or was not halted), 1 verification found breaks (the
// chain stays halted) or the chain changed meanwhile, 2 could not run.
import { Option } from 'commander';
import { createPool } from '@audit-chain/db';
import { checkpointSourcesFromConfig, describeReport, keyringFromConfig, resumeChain, type ResumeOutcome } from '@audit-chain/verification';
import type { RegisterCommand } from '../context.ts';
import { CliError, ExitCodeError } from '../errors.ts';
import { chainOrgId, parseChain, usageErrorsExit2 } from './verify.ts';

interface ResumeCliOptions {
  org: string;
  keyring?: string;
  checkpoints?: string;
  record: boolean;
}

export const registerResume: RegisterCommand = (program, context) => {
  program
    .command('resume')
    .description('resume sealing of a halted chain: verifies the whole chain first, and resumes only if it has no break')
    .addOption(new Option('--org <id>', 'the halted chain: an organization id, or "system"').argParser(parseChain).makeOptionMandatory())
    .option('--keyring <file>', 'JSON keyring of the public keys that may sign checkpoints (default: AUDIT_CHAIN_KEYRING_FILE)')
    .option('--checkpoints <dir>', 'directory of exported checkpoint files (default: AUDIT_CHAIN_CHECKPOINT_DIR, or <AUDIT_CHAIN_DATA_DIR>/checkpoints)')
    .option('--no-record', 'do not record the verification run in audit_chain_verifications')
    .exitOverride(usageErrorsExit2)
    .addHelpText(
      'after',
      `
A chain halts when sealing finds a broken invariant (docs/sealing.md). Find the
cause first (audit-chain lag --org <id> shows the reason; audit-chain verify
--org <id> lists breaks). This command then verifies the chain in full and
clears the halt only if no break is found and the chain did not change
meanwhile; the worker seals the chain again on its next poll.

Exit status: 0 resumed (or not halted), 1 breaks found or the chain changed
(still halted), 2 could not run.`,
    )
    .action(async (options: ResumeCliOptions) => {
      const orgId = chainOrgId(options.org) ?? null;
      let outcome: ResumeOutcome;
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain resume', max: 3 });
      try {
        const config = context.config();
        outcome = await resumeChain(pool, {
          orgId,
          keyring: keyringFromConfig(config, options.keyring),
          checkpointSources: checkpointSourcesFromConfig(config, { dir: options.checkpoints, table: true }),
          record: options.record,
        });
      } catch (error) {
        throw new ExitCodeError(2, error);
      } finally {
        await pool.end();
      }
      const chain = options.org;
      switch (outcome.status) {
        case 'unknown_chain':
          throw new CliError(`no chain ${chain}: it has no chain state (nothing sealed or discovered yet)`, { exitCode: 2 });
        case 'not_halted':
          context.out(`chain ${chain} is not halted: nothing to resume`);
          return;
        case 'breaks':
          for (const warning of outcome.report.warnings) context.warn(warning);
          for (const line of describeReport(outcome.report)) context.out(line);
          throw new CliError(`chain ${chain} stays halted: verification found ${outcome.report.breakCount} break${outcome.report.breakCount === 1 ? '' : 's'}`);
        case 'changed':
          throw new CliError(`chain ${chain} stays halted: its state changed while it was being verified; run resume again`);
        case 'resumed':
          for (const warning of outcome.report.warnings) context.warn(warning);
          context.out(
            `chain ${chain} resumed: ${outcome.report.totals.sealed} sealed rows verified without a break; halted since ${outcome.halted.at} (${outcome.halted.reason ?? 'no reason recorded'}). The worker seals it again on its next poll.`,
          );
      }
    });
};
