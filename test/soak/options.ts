// Command-line options of `npm run soak`: the short run by default (CI), a long
// one with --long or --duration, a seed to replay a run's fault schedule.
import { parseArgs } from 'node:util';

export interface SoakOptions {
  /** Seconds of writing under faults (startup, drain and checks come on top). */
  durationSeconds: number;
  /** Seeds the writers' choices and the fault schedule; printed so a run can be replayed. */
  seed: number;
  /** Keep the embedded PostgreSQL's data directory for inspection. */
  keep: boolean;
  /** Record the counts in docs/benchmarks.md, section "Soak". */
  write: boolean;
  /**
   * Run against a Citus cluster (this coordinator's maintenance database, as
   * scripts/citus/cluster.sh starts it) instead of an embedded PostgreSQL: a
   * database of its own on the coordinator and every worker, audit_logs
   * distributed by org_id. Undefined: the embedded PostgreSQL.
   */
  citusUrl?: string | undefined;
  /** The command line as a reader would repeat it, for the report. */
  command: string;
}

export const SHORT_SECONDS = 75;
/** The coordinator of scripts/citus/cluster.sh. */
export const DEFAULT_CITUS_URL = 'postgres://postgres@127.0.0.1:5451/postgres';
export const LONG_SECONDS = 600;

export const USAGE = `usage: npm run soak -- [--long | --duration SECONDS] [--seed N] [--keep] [--write] [--citus [URL]]

  (none)            the short soak: ${SHORT_SECONDS} s of writes under faults, under 3 minutes in all (CI)
  --long            ${LONG_SECONDS} s of writes under faults
  --duration S      S seconds of writes under faults
  --seed N          replay a run: the writers' choices and the fault schedule follow the seed
  --keep            keep the embedded PostgreSQL's data directory (its path is printed)
  --write           record the counts in docs/benchmarks.md, section "Soak" (not with --citus)
  --citus [URL]     against a Citus coordinator and its workers instead of an embedded PostgreSQL:
                    URL, else CITUS_DATABASE_URL, else ${DEFAULT_CITUS_URL} (scripts/citus/cluster.sh);
                    no system chain (Citus cannot hold it) and, instead of the PostgreSQL restart,
                    the coordinator's connections on every worker are terminated once`;

export function parseSoakOptions(argv: string[]): SoakOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      long: { type: 'boolean', default: false },
      duration: { type: 'string' },
      seed: { type: 'string' },
      keep: { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
      citus: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return 'help';
  if (positionals.length > (values.citus ? 1 : 0)) throw new Error(`unexpected argument ${JSON.stringify(positionals.at(-1))}`);
  const citusUrl = values.citus ? (positionals[0] ?? process.env.CITUS_DATABASE_URL ?? DEFAULT_CITUS_URL) : undefined;
  if (citusUrl !== undefined && values.write) throw new Error('--write records the embedded PostgreSQL run only: leave out --citus or --write');
  if (values.long && values.duration !== undefined) throw new Error('give --long or --duration, not both');
  const durationSeconds = values.duration !== undefined ? positive('--duration', values.duration) : values.long ? LONG_SECONDS : SHORT_SECONDS;
  const seed = values.seed !== undefined ? positive('--seed', values.seed) : Math.floor(Math.random() * 1_000_000_000);
  return {
    durationSeconds,
    seed,
    keep: values.keep ?? false,
    write: values.write ?? false,
    citusUrl,
    command: ['npm run soak', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' '),
  };
}

function positive(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}
