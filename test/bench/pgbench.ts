// Finds and runs pgbench. The benchmark drives load with pgbench rather than
// Node: on a 2-core machine a Node client with 32 connections would take a core
// from the server it is measuring.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PGBENCH_INSTALL_HINT =
  'pgbench was not found. Install it (Debian/Ubuntu: apt-get install postgresql-client or postgresql-contrib; ' +
  'macOS: brew install postgresql), put it on PATH, or set PGBENCH=/path/to/pgbench.';

/** PGBENCH, else pgbench on PATH, else the newest /usr/lib/postgresql/<version>/bin/pgbench. */
export function findPgbench(): string {
  const fromEnv = process.env.PGBENCH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`PGBENCH=${fromEnv} does not exist. ${PGBENCH_INSTALL_HINT}`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'pgbench'))) return join(dir, 'pgbench');
  }
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const candidate = join(debianRoot, version, 'bin', 'pgbench');
      if (existsSync(candidate)) return candidate;
    }
  }
  throw new Error(PGBENCH_INSTALL_HINT);
}

export async function pgbenchVersion(pgbench: string): Promise<string> {
  const { stdout } = await run(pgbench, ['--version']);
  return stdout.trim();
}

export interface PgbenchRun {
  pgbench: string;
  databaseUrl: string;
  scriptPath: string;
  clients: number;
  threads: number;
  seconds: number;
  /** pgbench's --protocol: prepared (the default here) or simple (every statement parsed anew, as many drivers send it). */
  protocol?: 'prepared' | 'simple';
}

export interface PgbenchResult {
  tps: number;
  transactions: number;
  latencyMs: number;
}

/** Runs one timed pgbench with a custom script; any failed or aborted transaction is an error. */
export async function runPgbench(options: PgbenchRun): Promise<PgbenchResult> {
  const args = [
    '--no-vacuum',
    `--protocol=${options.protocol ?? 'prepared'}`,
    `--client=${options.clients}`,
    `--jobs=${options.threads}`,
    `--time=${options.seconds}`,
    `--file=${options.scriptPath}`,
    options.databaseUrl,
  ];
  let stdout: string;
  try {
    ({ stdout } = await run(options.pgbench, args, {
      env: { ...process.env, PGAPPNAME: 'audit-chain bench' },
      maxBuffer: 16 * 1024 * 1024,
    }));
  } catch (error) {
    const failed = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`pgbench failed (${options.scriptPath}): ${failed.stderr || failed.stdout || failed.message}`);
  }
  return parsePgbenchOutput(stdout);
}

export function parsePgbenchOutput(stdout: string): PgbenchResult {
  const tps = /^tps = ([\d.]+) \(without initial connection time\)/m.exec(stdout);
  const processed = /^number of transactions actually processed: (\d+)/m.exec(stdout);
  const failed = /^number of failed transactions: (\d+)/m.exec(stdout);
  const latency = /^latency average = ([\d.]+) ms/m.exec(stdout);
  if (!tps?.[1] || !processed?.[1]) throw new Error(`could not read pgbench's output:\n${stdout}`);
  if (failed?.[1] && Number(failed[1]) > 0) throw new Error(`pgbench reported ${failed[1]} failed transactions:\n${stdout}`);
  return { tps: Number(tps[1]), transactions: Number(processed[1]), latencyMs: Number(latency?.[1] ?? Number.NaN) };
}
