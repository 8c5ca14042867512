// audit-chain adopt: takes over a legacy audit table chained at insert time by a
// trigger (often forked), copies its rows into audit_logs in (timestamp, id)
// order while the application keeps writing, switches the table for a view over
// audit_logs, waits until every adopted row is sealed and verifies the chains.
// Resumable: run it again after an interruption.
import { InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { refuseOnCitus } from '@audit-chain/citus';
import { createPool } from '@audit-chain/db';
import { adoptTable, isLifecycleRefusal, type AdoptProgress, type AdoptReport, type Source } from '@audit-chain/lifecycle';
import { checkpointSourcesFromConfig, keyringFromConfig, verifyChains } from '@audit-chain/verification';
import { CliError } from '../errors.ts';
import type { CliContext, RegisterCommand } from '../context.ts';

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

interface AdoptOptions {
  table: string;
  dryRun?: boolean;
  batchSize: number;
  map: string[];
  legacyChecksums?: string;
  view: boolean;
  verify: boolean;
}

const PHASES: Record<AdoptProgress['phase'], string> = {
  historical: 'copying historical rows',
  captured: 'copying rows written meanwhile',
  switch: 'switching',
  sealing: 'sealing adopted rows',
};

export const registerAdopt: RegisterCommand = (program, context) => {
  program
    .command('adopt')
    .description('take over an existing audit table chained at insert time: copy, reseal under format v1, switch')
    .option('--table <name>', 'the legacy audit table ([schema.]name)', 'audit_log')
    .option('--dry-run', 'report the plan (column mapping, trigger to drop, forks found), change nothing')
    .option('--batch-size <rows>', 'rows copied per transaction', positiveInt, 5000)
    .option('--map <target=source>', "map an audit_logs column to a legacy column or a constant, e.g. --map occurred_at=created_at --map actor_type=\"'user'\" (repeatable)", collect, [])
    .option('--legacy-checksums <prev,checksum>', 'the legacy chain columns (default prev_checksum,checksum)')
    .option('--no-view', 'do not put a view with the legacy name over audit_logs at the switch')
    .option('--no-verify', 'do not verify the chains at the end')
    .addHelpText(
      'after',
      `
Steps (each resumable; run the command again after an interruption):
  1. drop the legacy BEFORE INSERT trigger(s) and capture new inserts (a moment's lock);
  2. copy the rows into audit_logs in (timestamp, id) order, in batches, then the
     rows the application wrote meanwhile; chain_seq comes from the sequence;
  3. switch (a moment's lock): rename the legacy table to <table>_adopted (kept,
     with its old checksums; they are also in audit_chain_legacy_links) and put
     a view with its name and columns over audit_logs;
  4. wait until the adopted rows are sealed (sealing runs here, beside any worker),
     check that every legacy row was adopted, and verify.
Run it as the owner of audit_logs (the migrating role). Columns are matched by
name and common aliases (created_at -> occurred_at, user_id -> actor_id,
metadata -> details, ip -> ip_address, ...); every legacy column must map.
Exit status: 0 adopted and verified clean (or the dry run), 1 refused, broken or could not run.`,
    )
    .action(async (options: AdoptOptions) => {
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain adopt', max: 3 });
      const bar = progressBar(context, options.dryRun ?? false);
      try {
        await refuseOnCitus(pool, 'adopt');
        const legacyChecksums = options.legacyChecksums?.split(',').map((name) => name.trim());
        if (legacyChecksums && legacyChecksums.length !== 2) throw new CliError('--legacy-checksums: want two column names, prev and checksum');
        const report = await adoptTable(pool, {
          table: options.table,
          map: options.map,
          legacyChecksumColumns: legacyChecksums as [string, string] | undefined,
          batchSize: options.batchSize,
          dryRun: options.dryRun ?? false,
          view: options.view,
          onProgress: bar.update,
          onMessage: (line) => bar.log(line),
        });
        bar.stop();
        describe(context, report);
        if (options.dryRun) return;
        if (report.status !== 'done') {
          throw new CliError(`${report.pendingRows} adopted rows are not sealed yet (is a transaction holding the horizon back? see \`audit-chain lag\`); run adopt again to finish`);
        }
        if (options.verify) await verifyAdopted(context, pool);
      } catch (error) {
        bar.stop();
        if (isLifecycleRefusal(error)) throw new CliError(error.message);
        throw error;
      } finally {
        await pool.end();
      }
    });
};

function progressBar(context: CliContext, dryRun: boolean) {
  const terminal = dryRun ? null : context.terminal();
  const bar = terminal
    ? new cliProgress.SingleBar({ stream: terminal, format: '{phase} [{bar}] {value}/{total}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : null;
  let phase: string | null = null;
  return {
    update: (progress: AdoptProgress) => {
      if (!bar) return;
      if (phase !== progress.phase) {
        if (phase !== null) bar.stop();
        phase = progress.phase;
        bar.start(Math.max(progress.total, 1), progress.done, { phase: PHASES[progress.phase] });
      } else {
        bar.setTotal(Math.max(progress.total, progress.done, 1));
        bar.update(progress.done);
      }
    },
    log: (line: string) => {
      if (bar && phase !== null) bar.stop();
      phase = null;
      context.out(line);
    },
    stop: () => {
      if (bar && phase !== null) bar.stop();
      phase = null;
    },
  };
}

function showSource(source: Source): string {
  return 'column' in source ? source.column : source.literal === null ? 'NULL' : `'${source.literal}'`;
}

function describe(context: CliContext, report: AdoptReport): void {
  const { plan } = report;
  context.out(`legacy table ${plan.schema}.${plan.table}: ${report.legacyRows} rows, ordered by (${plan.orderColumn}, ${plan.idColumn})${plan.keepsIds ? '' : '; its ids are not uuids, so rows get new ids (the old ones are kept in audit_chain_legacy_links)'}`);
  if (report.forks) {
    context.out(
      report.forks.predecessors > 0
        ? `its insert-time chain has forked: ${report.forks.predecessors} predecessor checksums are used by ${report.forks.rows} rows (up to ${report.forks.widest} each)`
        : 'its insert-time chain has no fork',
    );
  }
  for (const [target, source] of Object.entries(plan.columns)) context.out(`  audit_logs.${target} <- ${showSource(source)}`);
  if (plan.legacyPrevColumn || plan.legacyChecksumColumn) {
    context.out(`  old checksums ${plan.legacyPrevColumn ?? '-'}, ${plan.legacyChecksumColumn ?? '-'} -> audit_chain_legacy_links`);
  }
  for (const trigger of report.droppedTriggers) context.out(`${report.status === 'planned' ? 'will drop' : 'dropped'} trigger ${trigger.name}: ${trigger.definition}`);
  if (report.status === 'planned') {
    context.out(`dry run: nothing changed. The table would become ${plan.table}_adopted${plan.keepsIds ? `, with a view ${plan.table} over audit_logs in its place` : ''}.`);
    return;
  }
  context.out(`adopted ${report.adoptedRows} of ${report.legacyRows} legacy rows (${report.capturedRows} written during adoption)${report.resumed ? ', resuming an earlier run' : ''}; status ${report.status}`);
  if (report.archiveTable) context.out(`the legacy table is kept as ${report.archiveTable}${report.view ? `; ${report.view} is now a view over audit_logs` : ''}`);
}

async function verifyAdopted(context: CliContext, pool: Parameters<typeof verifyChains>[0]): Promise<void> {
  const config = context.config();
  const report = await verifyChains(pool, { keyring: keyringFromConfig(config), checkpointSources: checkpointSourcesFromConfig(config) });
  for (const warning of report.warnings) context.warn(warning);
  context.out(`verified ${report.totals.chains} chains, ${report.totals.sealed} sealed rows: ${report.breakCount} breaks`);
  if (!report.ok) {
    for (const chainBreak of report.breaks.slice(0, 20)) context.warn(`${chainBreak.kind} in chain ${chainBreak.orgId ?? 'system'} at chain_seq ${chainBreak.chainSeq}: ${chainBreak.message}`);
    throw new CliError(`verification found ${report.breakCount} breaks after adoption`);
  }
}
