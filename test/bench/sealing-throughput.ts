// Issue 7, parts 2 and 4: one sealing worker (a real `audit-chain worker`
// process) drains a backlog of 100 organizations, one holding half of the rows;
// then the command-line verifier checks the drained chains. Two backlog sizes
// are drained so the worker's peak memory can be compared across them.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '@audit-chain/db';
import { createScratchDatabase } from './scratch-database.ts';
import { WORKER_ENV, workerSettings } from './worker-env.ts';
import type { BenchOptions, BenchSection, SectionReport, TargetCheck } from './section.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const ORGS = 100;

interface DrainResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMiB: number;
  verifySeconds: number;
  verifyRowsPerSecond: number;
  verifyExit: number | null;
  verifyPeakRssMiB: number;
}

/** Inserts `rows` pending rows: org 0 gets half, the other 99 share the rest. */
async function loadBacklog(client: pg.Client, rows: number): Promise<void> {
  const orgIds = Array.from({ length: ORGS }, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);
  const chunk = 50_000;
  for (let done = 0; done < rows; done += chunk) {
    const count = Math.min(chunk, rows - done);
    await client.query(
      `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, resource_type, resource_id, details, ip_address, user_agent)
       select case when g % 2 = 0 then $1::uuid else ($2::uuid[])[1 + (g / 2) % 99] end,
              'agent', 'agent-' || (g % 1000), 'ops' || (g % 50) || '@example.com', 'telemetry.submitted', 'device', 'dev-' || (g % 5000),
              jsonb_build_object('n', g, 'status', 'ok', 'metrics', jsonb_build_object('cpu', g % 100, 'mem', g % 64)),
              ('10.1.' || (g % 250) || '.' || (g % 200 + 1))::inet, 'agent/1.0'
         from generate_series($3::int, $4::int) g`,
      [orgIds[0], orgIds.slice(1), done, done + count - 1],
    );
  }
  await client.query('analyze audit_logs');
}

/** Peak resident set of a live process, from /proc (Linux). */
function peakRssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

async function sealedTotal(client: pg.Client): Promise<number> {
  const result = await client.query<{ n: string }>('select coalesce(sum(sealed_count), 0)::text as n from audit_chain_state');
  return Number(result.rows[0]?.n ?? 0);
}

async function drain(options: BenchOptions, rows: number): Promise<DrainResult> {
  const scratch = await createScratchDatabase(options.serverUrl, 'sealing');
  options.onCleanup(() => scratch.drop());
  await migrate(scratch.url);
  const client = new pg.Client({ connectionString: scratch.url, application_name: 'audit-chain bench' });
  await client.connect();
  try {
    options.log(`loading a backlog of ${rows.toLocaleString('en-US')} rows (${ORGS} organizations, one holding half)`);
    await loadBacklog(client, rows);
    await client.query('checkpoint');

    const worker = spawn(process.execPath, [CLI, 'worker'], {
      env: { ...process.env, DATABASE_URL: scratch.url, ...WORKER_ENV },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    worker.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const started = performance.now();
    let peak = 0;
    const deadline = Date.now() + 15 * 60_000;
    while ((await sealedTotal(client)) < rows) {
      if (worker.exitCode !== null) throw new Error(`the worker exited with ${worker.exitCode}: ${stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error('the backlog did not drain in 15 minutes');
      peak = Math.max(peak, peakRssMiB(worker.pid));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, peakRssMiB(worker.pid));
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
    options.log(`drained ${rows.toLocaleString('en-US')} rows in ${seconds.toFixed(1)} s (worker peak RSS ${peak.toFixed(0)} MiB)`);

    const verify = await runVerify(scratch.url);
    options.log(`verified in ${verify.seconds.toFixed(1)} s (exit ${verify.exit}, peak RSS ${verify.peakRssMiB.toFixed(0)} MiB)`);
    return {
      rows,
      seconds,
      rowsPerSecond: rows / seconds,
      peakRssMiB: peak,
      verifySeconds: verify.seconds,
      verifyRowsPerSecond: rows / verify.seconds,
      verifyExit: verify.exit,
      verifyPeakRssMiB: verify.peakRssMiB,
    };
  } finally {
    await client.end();
    await scratch.drop();
  }
}

/** `audit-chain verify --all --json --no-record` over the drained database, timed from spawn to exit. */
async function runVerify(url: string): Promise<{ seconds: number; exit: number | null; peakRssMiB: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'verify', '--all', '--json', '--no-record'], {
    env: { ...process.env, DATABASE_URL: url },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      const sample = peakRssMiB(child.pid);
      if (Number.isFinite(sample)) peak = Math.max(peak, sample);
    } catch {
      // the process has exited between two samples
    }
  }, 50);
  const exit = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  clearInterval(sampler);
  return { seconds: (performance.now() - started) / 1000, exit, peakRssMiB: peak };
}

const fmt = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const sealingThroughputSection: BenchSection = {
  id: 'sealing',
  title: 'Sealing and verification throughput',
  async run(options: BenchOptions): Promise<SectionReport> {
    const sizes = options.quick ? [50_000, 200_000] : [200_000, 1_000_000];
    const results: DrainResult[] = [];
    for (const size of sizes) results.push(await drain(options, size));
    const full = results[results.length - 1]!;
    const small = results[0]!;
    const targets: TargetCheck[] = [
      { name: `sealing >= 20,000 rows/s (${fmt(full.rows)} backlog)`, met: full.rowsPerSecond >= 20_000, measured: `${fmt(full.rowsPerSecond)} rows/s` },
      { name: `backlog of ${fmt(full.rows)} drained in < 60 s`, met: full.seconds < 60, measured: `${fmt(full.seconds, 1)} s` },
      { name: 'worker peak memory < 256 MB', met: Math.max(...results.map((r) => r.peakRssMiB)) < 256, measured: `${fmt(Math.max(...results.map((r) => r.peakRssMiB)))} MiB` },
      {
        name: 'worker memory independent of the backlog',
        met: full.peakRssMiB < small.peakRssMiB * 1.5,
        measured: `${fmt(small.peakRssMiB)} MiB at ${fmt(small.rows)} rows, ${fmt(full.peakRssMiB)} MiB at ${fmt(full.rows)}`,
      },
      { name: `verifier >= 100,000 rows/s (${fmt(full.rows)} rows)`, met: full.verifyExit === 0 && full.verifyRowsPerSecond >= 100_000, measured: `${fmt(full.verifyRowsPerSecond)} rows/s (exit ${full.verifyExit})` },
    ];
    const lines = [
      '## Sealing and verification throughput',
      '',
      `- Command: \`${options.command}\`; date ${new Date().toISOString()}`,
      `- Backlog: ${ORGS} organizations, one holding half of the rows, loaded before the worker starts; one \`audit-chain worker\` process (${workerSettings()}) drains it; drain time runs from the worker's spawn to the moment the chain states count every row sealed. Peak memory is the worker's VmHWM (peak resident set).`,
      '- Verification: `audit-chain verify --all --json --no-record` over the drained chains (every row recomputed), timed from spawn to exit.',
      '',
      '| backlog rows | drain time | sealing rows/s | worker peak RSS | verify time | verify rows/s | verifier peak RSS | verify exit |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...results.map(
        (r) =>
          `| ${fmt(r.rows)} | ${fmt(r.seconds, 1)} s | ${fmt(r.rowsPerSecond)} | ${fmt(r.peakRssMiB)} MiB | ${fmt(r.verifySeconds, 1)} s | ${fmt(r.verifyRowsPerSecond)} | ${fmt(r.verifyPeakRssMiB)} MiB | ${r.verifyExit} |`,
      ),
      '',
      'Targets (issue 7):',
      '',
      ...targets.map((target) => `- ${target.met ? 'PASS' : 'MISS'} ${target.name}: ${target.measured}`),
    ];
    return { markdown: lines.join('\n'), targets };
  },
};
