// Issue 14, verification: `audit-chain verify --all` over a sealed table of
// 100 organizations, one holding half of the rows, on worker threads and on
// one thread, beside the floor (verify-floor.ts) measured in the same run on the
// same rows. The table is grown from the smaller size to the larger one, so the
// verifier's peak memory can be compared across sizes; the two runs' JSON
// reports must be equal.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createPool, migrate } from '@audit-chain/db';
import { sealOnce } from '@audit-chain/sealing';
import { createScratchDatabase } from './scratch-database.ts';
import type { BenchOptions, BenchSection, SectionReport, TargetCheck } from './section.ts';
import { measureVerifyFloor, type FloorResult } from './verify-floor.ts';
import { WORKER_ENV } from './worker-env.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const ORGS = 100;
const orgIds = Array.from({ length: ORGS }, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);

/** Rows g in [from, to): even g to org 0, the rest over the 99 others (sealing-throughput.ts's backlog). */
async function loadRows(client: pg.Client, from: number, to: number): Promise<void> {
  const chunk = 50_000;
  for (let start = from; start < to; start += chunk) {
    await client.query(
      `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, resource_type, resource_id, details, ip_address, user_agent)
       select case when g % 2 = 0 then $1::uuid else ($2::uuid[])[1 + (g / 2) % 99] end,
              'agent', 'agent-' || (g % 1000), 'ops' || (g % 50) || '@example.com', 'telemetry.submitted', 'device', 'dev-' || (g % 5000),
              jsonb_build_object('n', g, 'status', 'ok', 'metrics', jsonb_build_object('cpu', g % 100, 'mem', g % 64)),
              ('10.1.' || (g % 250) || '.' || (g % 200 + 1))::inet, 'agent/1.0'
         from generate_series($3::int, $4::int) g`,
      [orgIds[0], orgIds.slice(1), start, Math.min(start + chunk, to) - 1],
    );
  }
}

interface VerifyRun {
  seconds: number;
  exit: number | null;
  peakRssMiB: number;
  stdout: string;
}

function peakRssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** `audit-chain verify --all --json --no-record --jobs N`, timed from spawn to exit, its peak RSS sampled from /proc. */
async function runVerify(url: string, jobs: number): Promise<VerifyRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'verify', '--all', '--json', '--no-record', '--jobs', String(jobs)], {
    // The deployment's heap settings (docker/Dockerfile.worker), where verify runs in the worker's image.
    env: { ...process.env, DATABASE_URL: url, NODE_OPTIONS: WORKER_ENV.NODE_OPTIONS },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      const sample = peakRssMiB(child.pid);
      if (Number.isFinite(sample)) peak = Math.max(peak, sample);
    } catch {
      // exited between two samples
    }
  }, 50);
  const exit = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  clearInterval(sampler);
  return { seconds: (performance.now() - started) / 1000, exit, peakRssMiB: peak, stdout };
}

interface SizeResult {
  rows: number;
  floor: FloorResult;
  parallel: VerifyRun;
  sequential: VerifyRun;
  sameReport: boolean;
  load: string;
}

const fmt = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const load = () => loadavg().map((value) => value.toFixed(2)).join(', ');

export const verifyThroughputSection: BenchSection = {
  id: 'verify',
  title: 'Verification throughput beside its floor',
  async run(options: BenchOptions): Promise<SectionReport> {
    const sizes = options.quick ? [50_000, 200_000] : [200_000, 1_000_000];
    const threads = availableParallelism();
    const scratch = await createScratchDatabase(options.serverUrl, 'verify');
    options.onCleanup(() => scratch.drop());
    await migrate(scratch.url);
    const client = new pg.Client({ connectionString: scratch.url, application_name: 'audit-chain bench' });
    await client.connect();
    const pool = createPool(scratch.url, { applicationName: 'audit-chain bench', max: 4 });
    const results: SizeResult[] = [];
    try {
      let loaded = 0;
      for (const size of sizes) {
        options.log(`loading rows ${fmt(loaded)} to ${fmt(size)} (${ORGS} organizations, one holding half) and sealing them`);
        await loadRows(client, loaded, size);
        loaded = size;
        const sealed = await sealOnce(pool, { batchSize: 5000, waitMs: 10_000, pollMs: 20 });
        if (sealed.broken.length > 0) throw new Error(`sealing the bench rows: ${sealed.broken.map((error) => error.message).join('; ')}`);
        // As after autovacuum in production: the visibility map set, statistics current.
        await client.query('vacuum analyze audit_logs');
        await client.query('checkpoint');
        const before = load();
        const floor = await measureVerifyFloor(scratch.url);
        options.log(`floor: ${fmt(floor.rows)} rows in ${fmt(floor.seconds, 1)} s`);
        const parallel = await runVerify(scratch.url, threads);
        options.log(`verify --jobs ${threads}: ${fmt(parallel.seconds, 1)} s (exit ${parallel.exit}, peak RSS ${fmt(parallel.peakRssMiB)} MiB)`);
        const sequential = await runVerify(scratch.url, 1);
        options.log(`verify --jobs 1: ${fmt(sequential.seconds, 1)} s (exit ${sequential.exit}, peak RSS ${fmt(sequential.peakRssMiB)} MiB)`);
        if (floor.rows !== size) throw new Error(`the floor read ${floor.rows} rows, want ${size}`);
        results.push({ rows: size, floor, parallel, sequential, sameReport: parallel.stdout !== '' && parallel.stdout === sequential.stdout, load: `${before} before; ${load()} after` });
      }
    } finally {
      await pool.end();
      await client.end();
      await scratch.drop();
    }
    const full = results.at(-1)!;
    const small = results[0]!;
    const rate = (run: VerifyRun, rows: number) => rows / run.seconds;
    const ratio = full.parallel.seconds / full.floor.seconds;
    const targets: TargetCheck[] = [
      { name: `verify within 1.5 x its floor (${fmt(full.rows)} rows)`, met: full.parallel.exit === 0 && ratio <= 1.5, measured: `${fmt(ratio, 2)} x (${fmt(full.parallel.seconds, 1)} s against ${fmt(full.floor.seconds, 1)} s)` },
      { name: `verify >= 100,000 rows/s (${fmt(full.rows)} rows)`, met: full.parallel.exit === 0 && rate(full.parallel, full.rows) >= 100_000, measured: `${fmt(rate(full.parallel, full.rows))} rows/s` },
      { name: `verifier peak RSS < 256 MB at ${fmt(full.rows)} rows`, met: full.parallel.peakRssMiB * 1.048576 < 256, measured: `${fmt(full.parallel.peakRssMiB)} MiB` },
      {
        name: 'verifier memory independent of the table',
        met: full.parallel.peakRssMiB < small.parallel.peakRssMiB * 1.25,
        measured: `${fmt(small.parallel.peakRssMiB)} MiB at ${fmt(small.rows)} rows, ${fmt(full.parallel.peakRssMiB)} MiB at ${fmt(full.rows)}`,
      },
      { name: `the same report with --jobs ${threads} and --jobs 1`, met: results.every((result) => result.sameReport), measured: results.map((result) => (result.sameReport ? 'same' : 'different')).join(', ') },
    ];
    const lines = [
      '## Verification throughput beside its floor',
      '',
      `- Command: \`${options.command}\`; date ${new Date().toISOString()}; ${threads} cores (\`os.availableParallelism()\`)`,
      `- Table: ${ORGS} organizations, one holding half of the rows, sealed (format v2) by \`sealOnce\`, then \`vacuum analyze\`; grown from ${fmt(small.rows)} to ${fmt(full.rows)} rows between the two measurements.`,
      '- Floor: `COPY (select * from audit_logs order by org_id, chain_seq) TO STDOUT` read in Node with two SHA-256 per row (test/bench/verify-floor.ts), one process.',
      `- Verify: \`audit-chain verify --all --json --no-record --jobs N\` (N = ${threads}: worker threads; N = 1: one thread), with the deployment's \`NODE_OPTIONS=${WORKER_ENV.NODE_OPTIONS}\` (docker/Dockerfile.worker), timed from spawn to exit; peak RSS is the process's VmHWM (worker threads included). "Same report": the two runs printed identical JSON.`,
      '',
      `| rows | floor | verify --jobs ${threads} | rows/s | x floor | peak RSS | verify --jobs 1 | rows/s | peak RSS | same report | load average (1, 5, 15 min) |`,
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
      ...results.map(
        (r) =>
          `| ${fmt(r.rows)} | ${fmt(r.floor.seconds, 1)} s | ${fmt(r.parallel.seconds, 1)} s | ${fmt(rate(r.parallel, r.rows))} | ${fmt(r.parallel.seconds / r.floor.seconds, 2)} | ${fmt(r.parallel.peakRssMiB)} MiB | ${fmt(r.sequential.seconds, 1)} s | ${fmt(rate(r.sequential, r.rows))} | ${fmt(r.sequential.peakRssMiB)} MiB | ${r.sameReport ? 'yes' : 'no'} | ${r.load} |`,
      ),
      '',
      'Targets (issue 14):',
      '',
      ...targets.map((target) => `- ${target.met ? 'PASS' : 'MISS'} ${target.name}: ${target.measured}`),
    ];
    return { markdown: lines.join('\n'), targets };
  },
};
