// audit-chain verify: checks chains against their links, their content, the
// chain state and the signed checkpoints, streaming the rows. Exit status: 0
// clean, 1 breaks found, 2 could not run (bad arguments, no database, an
// unreadable keyring or checkpoint directory...).
import { CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { createPool } from '@audit-chain/db';
import { checkpointSourcesFromConfig, defaultThreads, describeReport, keyringFromConfig, reportJson, runVerification, verifyAttachedTables, type AttachedVerifyReport, type RecordedRunReport } from '@audit-chain/verification';
import type { CliContext, RegisterCommand } from '../context.ts';
import { CliError, ExitCodeError } from '../errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An organization id (lowercased), or `system` for the chain of rows without one. */
export function parseChain(value: string): string {
  if (value === 'system') return value;
  if (!UUID.test(value)) throw new InvalidArgumentError('want an organization uuid or "system"');
  return value.toLowerCase();
}

/** The org id a parsed --org names: null for the system chain, undefined when not given. (commander takes a null from a parser for "no value".) */
export function chainOrgId(value: string | undefined): string | null | undefined {
  return value === 'system' ? null : value;
}

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
}

/** Usage errors exit 2 ("could not run") like every other failure to start; help still exits 0. */
export function usageErrorsExit2(error: CommanderError): never {
  if (error.exitCode === 0) throw error;
  throw new CommanderError(2, error.code, error.message);
}

interface VerifyOptions {
  org?: string;
  table?: string;
  all?: boolean;
  fromCheckpoint?: boolean;
  json?: boolean;
  keyring?: string;
  checkpoints?: string;
  dbCheckpoints: boolean;
  record: boolean;
  maxBreaks: number;
  jobs: number;
}

export const registerVerify: RegisterCommand = (program, context) => {
  program
    .command('verify')
    .description('verify chains: every sealed row\'s links and content, the chain state, and the signed checkpoints')
    .addOption(new Option('--org <id>', 'verify one chain of audit_logs: an organization id, or "system" for rows without one').argParser(parseChain).conflicts(['all', 'table']))
    .addOption(new Option('--table <name>', 'verify the chains of one attached table only ("schema.table" or the table\'s name)').conflicts('all'))
    .option('--all', 'verify every chain of every chained table (the default)')
    .option('--from-checkpoint', 'start each chain after its latest trusted checkpoint instead of its first row')
    .option('--json', 'print the report as one JSON object on stdout (no progress bar)')
    .option('--keyring <file>', 'JSON keyring of the public keys that may sign checkpoints (default: AUDIT_CHAIN_KEYRING_FILE)')
    .option('--checkpoints <dir>', 'directory of exported checkpoint files (default: AUDIT_CHAIN_CHECKPOINT_DIR, or <AUDIT_CHAIN_DATA_DIR>/checkpoints)')
    .option('--no-db-checkpoints', 'ignore the copy of the checkpoints in the database: check against the exported files alone')
    .option('--no-record', 'do not record the run in audit_chain_verifications')
    .option('--max-breaks <n>', 'most breaks listed (all are counted)', positiveInt, 1000)
    .option('--jobs <n>', 'worker threads that read and hash rows (1: no threads); the report is the same whatever the number', positiveInt, defaultThreads())
    .exitOverride(usageErrorsExit2)
    .addHelpText(
      'after',
      `
Checkpoints are read from the exported directory and from the database's copies
(audit_chain_checkpoints for audit_logs, audit_chain_table_checkpoints for
attached tables); each is trusted only if its signature verifies under the
keyring. Without a keyring only links, content and the chain state are checked
(a warning says so).

Exit status: 0 no breaks, 1 breaks found (listed), 2 could not run.`,
    )
    .action(async (options: VerifyOptions) => {
      let report: RecordedRunReport | null = null;
      let attached: AttachedVerifyReport | null = null;
      try {
        // audit_logs' chains, unless one attached table was asked for.
        if (options.table === undefined) report = await verify(context, options);
        // Attached tables' chains (format v2), unless one audit_logs chain was asked for.
        if (options.org === undefined) attached = await verifyAttached(context, options);
      } catch (error) {
        throw new ExitCodeError(2, error);
      }
      for (const warning of [...(report?.warnings ?? []), ...(attached?.warnings ?? [])]) context.warn(warning);
      if (options.json) context.out(JSON.stringify({ ...(report ? reportJson(report) : { ok: attached!.ok, scope: options.table }), attached }, null, 2));
      else for (const line of [...(report ? describeReport(report) : []), ...describeAttached(attached)]) context.out(line);
      const breaks = (report?.breakCount ?? 0) + (attached?.breaks.length ?? 0);
      if (breaks > 0) throw new CliError(`verification found ${breaks} break${breaks === 1 ? '' : 's'}`, { exitCode: 1 });
    });
};

async function verifyAttached(context: CliContext, options: VerifyOptions): Promise<AttachedVerifyReport> {
  const config = context.config();
  const keyring = keyringFromConfig(config, options.keyring);
  const checkpointSources = checkpointSourcesFromConfig(config, { dir: options.checkpoints, table: options.dbCheckpoints });
  const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain verify', max: 2 });
  try {
    const report = await verifyAttachedTables(pool, { table: options.table, keyring, checkpointSources, reportUnclaimed: options.table !== undefined, threads: options.jobs });
    // The audit_logs run already said so when it ran.
    if (options.table === undefined) report.warnings = report.warnings.filter((warning) => !warning.startsWith('no keyring') && !warning.startsWith('no checkpoint directory'));
    return report;
  } finally {
    await pool.end();
  }
}

function describeAttached(report: AttachedVerifyReport | null): string[] {
  if (!report) return [];
  const sources = report.checkpoints.sources.map((source) => `${source.source}: ${source.read} read, ${source.trusted} trusted, ${source.rejected} rejected`);
  return [
    ...(report.checkpoints.checked ? [`attached tables: ${report.checkpoints.trusted} trusted checkpoint(s)${sources.length ? ` (${sources.join('; ')})` : ''}`] : []),
    ...report.chains.map(
      (chain) =>
        `${chain.chain}: ${chain.rows} rows, ${chain.sealed} sealed, ${chain.pending} pending${chain.redacted ? `, ${chain.redacted} redacted` : ''}${chain.cutSeq ? `, from the retention cut at chain_seq ${chain.cutSeq}` : ''}`,
    ),
    ...report.breaks.map((found) => `break ${found.kind} in ${found.chain}${found.chainSeq ? ` at chain_seq ${found.chainSeq}` : ''}: ${found.message}`),
  ];
}

async function verify(context: CliContext, options: VerifyOptions): Promise<RecordedRunReport> {
  const config = context.config();
  const orgId = chainOrgId(options.org);
  const keyring = keyringFromConfig(config, options.keyring);
  const sources = checkpointSourcesFromConfig(config, { dir: options.checkpoints, table: options.dbCheckpoints });
  const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain verify', max: 3 });
  const terminal = options.json ? null : context.terminal();
  const bar = terminal
    ? new cliProgress.SingleBar(
        { stream: terminal, format: 'verifying {chain} [{bar}] {value}/{total} rows | chain {index}/{chains}', hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  // The total grows as chains start (their sealed counts); pending rows may push the count past it.
  let expected = 0;
  let read = 0;
  try {
    return await runVerification(pool, {
      orgId,
      keyring,
      checkpointSources: sources,
      fromCheckpoint: options.fromCheckpoint ?? false,
      keepBreaks: options.maxBreaks,
      record: options.record ? { trigger: 'cli', orgId } : null,
      ...(options.jobs > 1 ? { parallel: { databaseUrl: context.databaseUrl(), threads: options.jobs } } : {}),
      onChainStart: (chain) => {
        if (!bar) return;
        expected += chain.expectedRows;
        const label = { chain: chain.orgId ?? 'system', index: chain.index + 1, chains: chain.total };
        if (chain.index === 0) bar.start(Math.max(expected, 1), 0, label);
        else bar.setTotal(Math.max(expected, read, 1));
        bar.update(read, label);
      },
      onProgress: (rows) => {
        read = rows;
        if (!bar) return;
        if (rows > bar.getTotal()) bar.setTotal(rows);
        bar.update(rows);
      },
    });
  } finally {
    bar?.stop();
    await pool.end();
  }
}
