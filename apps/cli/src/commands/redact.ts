// audit-chain redact: erases the personal fields of one sealed audit row, as the
// redactor role. Verification still passes and counts the row as redacted; the
// redaction itself is recorded as an audit row (in the same chain for
// audit_logs, in audit_logs' system chain for an attached table).
import { refuseOnCitus } from '@audit-chain/citus';
import { createPool } from '@audit-chain/db';
import { isLifecycleRefusal, LifecycleError, PERSONAL_FIELDS, redactAttachedRow, redactRow } from '@audit-chain/lifecycle';
import { CliError } from '../errors.ts';
import type { RegisterCommand } from '../context.ts';

interface RedactOptions {
  id?: string;
  seq?: string;
  table?: string;
  fields?: string;
  reason?: string;
}

export const registerRedact: RegisterCommand = (program, context) => {
  program
    .command('redact')
    .description('erase the personal fields of a sealed audit row (audit_logs, or an attached table with --table), as the redactor role')
    .option('--id <id>', 'id of the row (audit_logs: its uuid; an attached table: the value of its one-column primary key)')
    .option('--table <name>', 'an attached table (schema.table): erase the columns attach --pii named personal')
    .option('--seq <n>', "with --table: the row's chain_seq (instead of --id)")
    .option('--fields <list>', `comma-separated personal fields to erase (default: audit_logs ${PERSONAL_FIELDS.join(',')}; an attached table every personal column)`)
    .option('--reason <text>', 'why (recorded in the audit row describing the redaction; do not put personal data here)')
    .addHelpText(
      'after',
      `
The row must be sealed (a pending row is refused: seal it first). Its pii salt
is erased with the fields, so the salted pii digest that its checksum commits
to stays and reveals nothing; a field left out of --fields must already be
empty. Only personal fields can be erased: content stays covered by the
checksum. On an attached table a personal column the product declares NOT NULL
is refused (erasing writes NULL). The login (DATABASE_URL) must be a member of
the redactor role (audit_chain_roles, default audit_chain_redactor).
Exit status: 0 when the row was redacted, 1 when it was refused or could not run.`,
    )
    .action(async (options: RedactOptions) => {
      if (options.table === undefined && options.seq !== undefined) throw new CliError('--seq selects a row of an attached table: give --table too (audit_logs rows are selected by --id)');
      if ((options.id === undefined) === (options.seq === undefined)) {
        throw new CliError(options.table === undefined ? 'want --id <uuid> of the audit row' : 'want exactly one of --id <primary key> and --seq <chain_seq> for a row of the attached table');
      }
      const fields = (options.fields ?? (options.table === undefined ? PERSONAL_FIELDS.join(',') : '')).split(',').map((field) => field.trim()).filter((field) => field !== '');
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain redact', max: 1 });
      try {
        if (options.table !== undefined) {
          await refuseOnCitus(pool, 'redactTable');
          const result = await redactAttachedRow(pool, {
            table: options.table,
            row: options.seq !== undefined ? { chainSeq: options.seq } : { id: options.id! },
            fields,
            reason: options.reason ?? null,
          });
          const chain = result.chainKey === null ? '' : ` chain ${result.chainKey}`;
          context.out(`redacted row chain_seq ${result.chainSeq} of ${result.table}${chain}: erased ${result.erased.length ? result.erased.join(', ') : 'no column (they were empty)'} and the pii salt`);
          context.out(`recorded as audit row ${result.auditRowId} of audit_logs' system chain (chain_seq ${result.auditChainSeq})`);
          return;
        }
        const result = await redactRow(pool, { rowId: options.id!, fields, reason: options.reason ?? null });
        context.out(
          `redacted row ${result.rowId} (chain ${result.orgId ?? 'system'}, chain_seq ${result.chainSeq}): erased ${result.erased.length ? result.erased.join(', ') : 'no field (they were empty)'} and pii_salt`,
        );
        context.out(`recorded as audit row ${result.auditRowId} (chain_seq ${result.auditChainSeq})`);
      } catch (error) {
        if (isLifecycleRefusal(error) || error instanceof LifecycleError) throw new CliError(error.message);
        throw error;
      } finally {
        await pool.end();
      }
    });
};
