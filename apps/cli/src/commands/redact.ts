// audit-chain redact: erases the personal fields of one sealed audit row, as the
// redactor role. Verification still passes and counts the row as redacted; the
// redaction itself is recorded as an audit row in the same chain.
import { refuseOnCitus } from '@audit-chain/citus';
import { createPool } from '@audit-chain/db';
import { isLifecycleRefusal, PERSONAL_FIELDS, redactRow } from '@audit-chain/lifecycle';
import { CliError } from '../errors.ts';
import type { RegisterCommand } from '../context.ts';

export const registerRedact: RegisterCommand = (program, context) => {
  program
    .command('redact')
    .description('erase personal fields (actor_email, ip_address, user_agent) of a sealed audit row, as the redactor role')
    .requiredOption('--id <uuid>', 'id of the audit row')
    .option('--fields <list>', 'comma-separated personal fields to erase', PERSONAL_FIELDS.join(','))
    .option('--reason <text>', 'why (recorded in the audit row describing the redaction; do not put personal data here)')
    .addHelpText(
      'after',
      `
The row must be sealed. Its pii_salt is erased with the fields, so the salted
pii_digest that its checksum commits to stays and reveals nothing; a field left
out of --fields must already be empty. The login (DATABASE_URL) must be a member
of the redactor role (audit_chain_roles, default audit_chain_redactor).
Exit status: 0 when the row was redacted, 1 when it was refused or could not run.`,
    )
    .action(async (options: { id: string; fields: string; reason?: string }) => {
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain redact', max: 1 });
      try {
        await refuseOnCitus(pool, 'redact');
        const fields = options.fields.split(',').map((field) => field.trim()).filter((field) => field !== '');
        const result = await redactRow(pool, { rowId: options.id, fields, reason: options.reason ?? null });
        context.out(
          `redacted row ${result.rowId} (chain ${result.orgId ?? 'system'}, chain_seq ${result.chainSeq}): erased ${result.erased.length ? result.erased.join(', ') : 'no field (they were empty)'} and pii_salt`,
        );
        context.out(`recorded as audit row ${result.auditRowId} (chain_seq ${result.auditChainSeq})`);
      } catch (error) {
        if (isLifecycleRefusal(error)) throw new CliError(error.message);
        throw error;
      } finally {
        await pool.end();
      }
    });
};
