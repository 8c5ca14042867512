// audit-chain lag: the chain-lag overview (worst chains first) as an aligned
// table, or one chain with --org (audit_logs) or --table [--chain] (any chained
// table); --json prints exactly what the admin API (GET /admin/v1/lag,
// /admin/v1/lag/:orgId, /admin/v1/lag/tables/:table/chains/:chain) returns.
import { InvalidArgumentError } from 'commander';
import { createPool } from '@audit-chain/db';
import {
  MAX_PAGE,
  decodeOverviewCursor,
  getChainLag,
  getLagOverview,
  getLagTotals,
  getTableChainLag,
  renderChainDetail,
  renderOverview,
  type SealedSample,
} from '@audit-chain/lag';
import type { Pool } from '@audit-chain/db';
import type { RegisterCommand } from '../context.ts';
import { CliError } from '../errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Validates --org; stays a string because commander turns a parser's null into ''. */
export function chainArgument(value: string): string {
  if (value === 'system') return value;
  if (!UUID.test(value)) throw new InvalidArgumentError('want an organization uuid, or "system" for rows without one');
  return value.toLowerCase();
}

export function pageSize(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > MAX_PAGE) throw new InvalidArgumentError(`must be an integer from 1 to ${MAX_PAGE}`);
  return parsed;
}

export function seconds(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 60) throw new InvalidArgumentError('must be a number of seconds from 0 to 60');
  return parsed;
}

/**
 * Throughput needs two readings of the sealed-row total: the API keeps
 * samples, a one-shot command takes a first reading and waits `windowSeconds`.
 */
export async function earlierReading(pool: Pool, windowSeconds: number): Promise<SealedSample | undefined> {
  if (windowSeconds === 0) return undefined;
  const first = await getLagTotals(pool);
  await new Promise((resolve) => setTimeout(resolve, windowSeconds * 1000));
  return { sealed_rows: first.totals.sealed_rows, at: first.generated_at };
}

interface LagOptions {
  org?: string;
  table?: string;
  chain?: string;
  json?: boolean;
  limit: number;
  cursor?: string;
  window: number;
}

export const registerLag: RegisterCommand = (program, context) => {
  program
    .command('lag')
    .description('show chain lag: pending rows, oldest pending row, watermark and head per chain, worst first')
    .option('--org <id>', 'one chain: an organization uuid, or "system"', chainArgument)
    .option('--table <schema.table>', 'one chain of a chained table (an attached table, or audit_chain.audit_logs); with --chain')
    .option('--chain <key>', "with --table: the chain key's value as the overview prints it ('null': rows with a NULL key); default 'all', the chain of a table without a chain key")
    .option('--json', 'print the JSON the admin API serves for the same request')
    .option('--limit <n>', 'chains per page (as the API\'s limit)', pageSize, 50)
    .option('--cursor <cursor>', 'the next page, from a previous page\'s next_cursor')
    .option('--window <seconds>', 'measure throughput over this many seconds first (0: none)', seconds, 0)
    .addHelpText(
      'after',
      `
Figures are described in docs/operations.md. Exit status 0; 1 when the
command could not run or --org names a chain without rows; 2 when --table
names no chained table or --chain no chain of it.`,
    )
    .action(async (options: LagOptions) => {
      if (options.chain !== undefined && options.table === undefined) throw new CliError('--chain needs --table', { exitCode: 2 });
      if (options.table !== undefined && options.org !== undefined) throw new CliError('--org and --table cannot be combined (audit_logs: --table audit_chain.audit_logs --chain <org uuid>)', { exitCode: 2 });
      const cursor = options.cursor === undefined ? undefined : decodeOverviewCursor(options.cursor);
      if (options.cursor !== undefined && !cursor) throw new CliError('--cursor: not a next_cursor value printed by `audit-chain lag`');
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain lag', max: 2 });
      try {
        if (options.table !== undefined) {
          const chain = options.chain ?? 'all';
          const result = await getTableChainLag(pool, options.table, chain);
          if ('missing' in result) {
            throw new CliError(
              result.missing === 'table'
                ? `no chained table ${options.table} (see the tables \`audit-chain lag\` lists)`
                : `no chain ${JSON.stringify(chain)} in ${options.table}${options.chain === undefined ? ' (give --chain <key> for a table with a chain key)' : ''}`,
              { exitCode: 2 },
            );
          }
          print(context, options.json, result.found, renderChainDetail(result.found));
          return;
        }
        if (options.org !== undefined) {
          const detail = await getChainLag(pool, options.org === 'system' ? null : options.org);
          if (!detail) throw new CliError(`no audit rows for chain ${options.org}`);
          print(context, options.json, detail, renderChainDetail(detail));
          return;
        }
        const previous = await earlierReading(pool, options.window);
        const overview = await getLagOverview(pool, { limit: options.limit, cursor }, { previous });
        print(context, options.json, overview, renderOverview(overview));
      } finally {
        await pool.end();
      }
    });
};

export function print(context: { out(line: string): void }, json: boolean | undefined, value: unknown, lines: string[]): void {
  if (json) context.out(JSON.stringify(value, null, 2));
  else for (const line of lines) context.out(line);
}
