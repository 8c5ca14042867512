// audit-chain attach: chains a product's own audit table in place (no rows
// moved, no column retyped, the product's grants and row-level security kept).
// --dry-run prints the plan and checks every existing row can be sealed; a run
// records the plan when it starts and is resumable from then on.
import { LifecycleError, attachTable, refreshAttachedTable, type AttachStep } from '@audit-chain/lifecycle';
import { createPool } from '@audit-chain/db';
import { CliError } from '../errors.ts';
import type { RegisterCommand } from '../context.ts';

interface AttachCliOptions {
  table: string;
  orgColumn?: string;
  orderBy?: string;
  pii?: string;
  exclude?: string;
  dryRun?: boolean;
  refresh?: boolean;
}

const STEP_TEXT: Record<AttachStep, string> = {
  columns: 'adding the chain columns and dropping the hashing trigger (a moment\'s lock)',
  number: 'numbering existing rows in the chosen order',
  identity: 'making chain_seq an identity column (a moment\'s lock)',
  index: 'building a BRIN index on chain_seq (concurrently: inserts go on)',
  grants: 'granting the sealer role',
  attached: 'recording the covered columns',
};

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((name) => name.trim()).filter((name) => name.length > 0);
}

export const registerAttach: RegisterCommand = (program, context) => {
  program
    .command('attach')
    .description("chain an existing audit table in place: the application's INSERTs and SELECTs stay as they are")
    .requiredOption('--table <name>', 'the table to chain ([schema.]name)')
    .option('--org-column <column>', 'the chain key (uuid, text, bigint, ...); without it, one chain for the whole table')
    .option('--order-by <columns>', 'the order existing rows are chained in (comma-separated; the primary key breaks ties)')
    .option('--pii <columns>', 'personal columns, committed through the salted digest so they can be erased later')
    .option('--exclude <columns>', 'columns the chain does not cover')
    .option('--dry-run', 'print the plan and check every existing row can be sealed; change nothing')
    .option('--refresh', "confirm an attached table's changed columns as the chain's new covered set (recorded in its history)")
    .addHelpText(
      'after',
      `
Adds audit_chain_seq (an identity column) and the chain columns audit_chain_prev,
audit_chain_checksum, audit_chain_version, audit_chain_pii_digest and
audit_chain_pii_salt; the product's own checksum/prev_checksum columns stay its
content (covered, or --exclude them). Drops a BEFORE INSERT trigger that hashes,
keeping its definition in audit_chain.audit_chain_tables. Existing rows get
chain_seq 1..N in the chosen order while the application keeps writing.
Until it starts, nothing is recorded: change the options and run --dry-run again.
Once started, run it again (with the same options or none) to resume.
Run it as the table's owner; under forced row-level security, as a role with BYPASSRLS.
Exit status: 0 attached (or the dry run found no problem), 1 refused or could not run.`,
    )
    .action(async (options: AttachCliOptions) => {
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain attach', max: 2 });
      try {
        if (options.refresh) {
          const refreshed = await refreshAttachedTable(pool, { table: options.table, pii: list(options.pii), exclude: list(options.exclude), dryRun: options.dryRun ?? false });
          for (const line of refreshed.lines) context.out(line);
          return;
        }
        let lastStep: AttachStep | null = null;
        const report = await attachTable(pool, {
          table: options.table,
          orgColumn: options.orgColumn,
          orderBy: list(options.orderBy),
          pii: list(options.pii),
          exclude: list(options.exclude),
          dryRun: options.dryRun ?? false,
          onProgress: (progress) => {
            if (progress.step !== lastStep) context.terminal()?.write(`${STEP_TEXT[progress.step]}...\n`);
            lastStep = progress.step;
          },
        });
        for (const line of report.lines) context.out(line);
        if (options.dryRun) {
          if (report.plan.problems.length) throw new CliError(`the plan has ${report.plan.problems.length} problem(s), nothing would be attached: ${report.plan.problems.join('; ')}`);
          return;
        }
        context.out(`attached ${report.plan.schema}.${report.plan.table} as chained table ${report.tableId}`);
      } catch (error) {
        if (error instanceof LifecycleError) throw new CliError(error.message);
        throw error;
      } finally {
        await pool.end();
      }
    });
};
