// Issues 7 and 14: commit-to-sealed latency with the sealing worker running
// beside the writers, as a function of the insert rate, against the machine's
// plain insert rate measured in the same run with the same writers.
//
// 1. Plain maximum: the writers (same connections, same row shape) insert as fast
//    as they can into a chainless copy of audit_logs (bench_plain: the content
//    columns, PK and the product's listing index; no identity, no chain index),
//    with no worker. That is the machine's plain insert rate: the denominator
//    does not include the chain's own insert-path cost, so the ratio charges the
//    project with all of it. audit_logs' own maximum (no worker) is printed
//    beside it.
// 2. Paced steps with one `audit-chain worker` running: the writers insert into
//    audit_logs at a fraction of the plain maximum (0.5 first, then a bisection
//    for the highest fraction whose p99 < 1 s), each step a warm-up and then a
//    measured window. A poller on its own connection reads the watermarks every
//    20 ms; a row's latency = the first poll that saw its chain sealed past it -
//    the moment its COMMIT returned (measured outside the worker).
//
// About four minutes (under one with --quick); --seconds N sets each step's
// measured seconds, --rounds N the number of bisection steps after the first.
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '@audit-chain/db';
import { findVariant } from './insert-variants.ts';
import { LagWriters, type Commit } from './lag-writers.ts';
import { createScratchDatabase } from './scratch-database.ts';
import { WatermarkPoller } from './watermark-poller.ts';
import { WORKER_ENV, workerSettings } from './worker-env.ts';
import type { BenchOptions, BenchSection, SectionReport } from './section.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const ORGS = 20;
const WRITERS = 8;
const POLL_MS = 20;
/** A row not sealed this long after its step's writers stopped counts as never sealed. */
const TAIL_MS = 10_000;
/** A step keeps its pace when it achieves at least this share of its target rate. */
const PACE_KEPT = 0.98;
const TARGET_MS = 1000;
const TARGET_FRACTION = 0.5;
/** Interleaved rounds of the unpaced runs (chainless copy, audit_logs); the best of each counts. */
const MAX_ROUNDS = 2;

interface Step {
  fraction: number;
  target: number;
  achieved: number;
  lateStarts: number;
  rows: number;
  p50: number;
  p99: number;
  max: number;
  neverSealed: number;
  /** The same rows' commit -> discovered (horizon and discovery loop) and discovered -> sealed (pg-boss dispatch, seal job). */
  toDiscovered: { p50: number; p99: number };
  toSealed: { p50: number; p99: number };
  /** Profile: discovery's advances (dispatch cycle), and the seal jobs' wait in pg-boss (created -> started) and run (started -> completed). */
  cycle: { p50: number; p99: number };
  jobWait: { p50: number; p99: number };
  jobRun: { p50: number; p99: number };
  jobs: number;
  /** Writers kept the pace, every row sealed, p99 < 1 s. */
  passed: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (value: number) => (Number.isNaN(value) ? 'n/a' : Number.isFinite(value) ? `${value.toFixed(0)} ms` : `> ${TAIL_MS / 1000} s`);
const load = () => loadavg().map((value) => value.toFixed(2)).join(' ');

export const endToEndLagSection: BenchSection = {
  id: 'lag',
  title: 'End-to-end lag',
  async run(options: BenchOptions): Promise<SectionReport> {
    const quick = options.quick;
    const plainWarmup = quick ? 2 : 3;
    const plainSeconds = quick ? 5 : 10;
    const warmupSeconds = quick ? 3 : 5;
    const stepSeconds = options.seconds ?? (quick ? 8 : 20);
    const searchSteps = options.rounds ?? (quick ? 2 : 5);
    const loadBefore = load();

    const scratch = await createScratchDatabase(options.serverUrl, 'lag');
    options.onCleanup(() => scratch.drop());
    await migrate(scratch.url);
    const plain = findVariant('plain');
    const setup = new pg.Client({ connectionString: scratch.url, application_name: 'audit-chain bench' });
    await setup.connect();
    await setup.query(plain.install);
    await setup.end();
    const orgs = Array.from({ length: ORGS }, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);
    const writers = await LagWriters.open(scratch.url, WRITERS, orgs);
    let worker: ChildProcess | undefined;
    let poller: WatermarkPoller | undefined;
    options.onCleanup(async () => {
      worker?.kill('SIGKILL');
      await writers.close().catch(() => {});
    });

    /** Rows/s the writers reach unpaced, from the first to the last commit after the warm-up. */
    const maximum = async (table: string): Promise<number> => {
      let counted = 0;
      let first = Number.NaN;
      let last = 0;
      const windowStart = performance.now() + plainWarmup * 1000;
      await writers.run({
        table,
        rate: undefined,
        seconds: plainWarmup + plainSeconds,
        onCommit: (commit) => {
          if (commit.committedAt < windowStart) return;
          if (Number.isNaN(first)) first = commit.committedAt;
          counted += 1;
          last = commit.committedAt;
        },
      });
      return (counted - 1) / ((last - first) / 1000);
    };

    options.log(`plain maximum: ${WRITERS} connections inserting as fast as they can, ${plainWarmup} s warm-up + ${plainSeconds} s, no worker, ${MAX_ROUNDS} rounds`);
    // Interleaved rounds, the best of each: the highest rate the machine reached.
    let plainMax = 0;
    let auditLogsMax = 0;
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      plainMax = Math.max(plainMax, await maximum(plain.table));
      auditLogsMax = Math.max(auditLogsMax, await maximum('audit_logs'));
    }
    options.log(`plain maximum ${plainMax.toFixed(0)} rows/s into ${plain.table}; audit_logs without a worker ${auditLogsMax.toFixed(0)} rows/s (${(auditLogsMax / plainMax).toFixed(2)} x)`);

    worker = spawn(process.execPath, [CLI, 'worker'], { env: { ...process.env, DATABASE_URL: scratch.url, ...WORKER_ENV }, stdio: ['ignore', 'ignore', 'inherit'] });
    const workerExited = new Promise((resolve) => worker!.once('exit', resolve));
    poller = await WatermarkPoller.start(scratch.url, POLL_MS);
    // The worker first seals what audit_logs' maximum left behind.
    const backlog = await pendingRows(scratch.url);
    const drainStarted = performance.now();
    while ((await pendingRows(scratch.url)) > 0 && performance.now() - drainStarted < 120_000) await sleep(200);
    options.log(`worker started and sealed the ${backlog} rows left by the maximum run in ${((performance.now() - drainStarted) / 1000).toFixed(1)} s`);

    const runStep = async (fraction: number): Promise<Step> => {
      const target = fraction * plainMax;
      const commits: Commit[] = [];
      const windowStart = performance.now() + warmupSeconds * 1000;
      const windowStartDate = new Date(Date.now() + warmupSeconds * 1000);
      const { lateStarts } = await writers.run({
        table: 'audit_logs',
        rate: target,
        seconds: warmupSeconds + stepSeconds,
        onCommit: (commit) => {
          if (commit.committedAt >= windowStart) commits.push(commit);
        },
      });
      const stoppedAt = performance.now();
      const unsealed = () => commits.filter((commit) => poller!.sealedAt(commit.org, commit.seq) === undefined).length;
      while (unsealed() > 0 && performance.now() - stoppedAt < TAIL_MS) await sleep(100);
      const sorted = (values: number[]) => values.sort((a, b) => a - b);
      const since = (from: number, at: number | undefined) => (at === undefined ? Number.POSITIVE_INFINITY : Math.max(0, at - from));
      const latencies = sorted(commits.map((commit) => since(commit.committedAt, poller!.sealedAt(commit.org, commit.seq))));
      const toDiscovered = sorted(commits.map((commit) => since(commit.committedAt, poller!.discoveredAt(commit.seq))));
      const toSealed = sorted(
        commits.map((commit) => {
          const discoveredAt = poller!.discoveredAt(commit.seq);
          return discoveredAt === undefined ? Number.POSITIVE_INFINITY : since(discoveredAt, poller!.sealedAt(commit.org, commit.seq));
        }),
      );
      // Writers that fell behind their schedule keep inserting after the step's end:
      // the rate they sustained is their commits over the time they really took.
      const lastCommit = commits.reduce((last, commit) => Math.max(last, commit.committedAt), windowStart);
      const windowSeconds = Math.max(stepSeconds, (lastCommit - windowStart) / 1000);
      const achieved = commits.length / windowSeconds;
      const cycles = sorted(poller!.discoveryIntervals(windowStart, stoppedAt));
      const jobs = await sealJobTimes(scratch.url, windowStartDate);
      const neverSealed = latencies.filter((latency) => !Number.isFinite(latency)).length;
      const step: Step = {
        fraction,
        target,
        achieved,
        lateStarts,
        rows: commits.length,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies[latencies.length - 1] ?? Number.NaN,
        neverSealed,
        toDiscovered: { p50: percentile(toDiscovered, 50), p99: percentile(toDiscovered, 99) },
        toSealed: { p50: percentile(toSealed, 50), p99: percentile(toSealed, 99) },
        cycle: { p50: percentile(cycles, 50), p99: percentile(cycles, 99) },
        jobWait: { p50: percentile(jobs.wait, 50), p99: percentile(jobs.wait, 99) },
        jobRun: { p50: percentile(jobs.run, 50), p99: percentile(jobs.run, 99) },
        jobs: jobs.run.length,
        passed: false,
      };
      step.passed = achieved >= PACE_KEPT * target && neverSealed === 0 && step.p99 < TARGET_MS;
      options.log(
        `${fraction.toFixed(3)} x: target ${target.toFixed(0)} rows/s, achieved ${achieved.toFixed(0)} rows/s, late starts ${lateStarts}, p50 ${ms(step.p50)}, p99 ${ms(step.p99)}, max ${ms(step.max)}, never sealed ${neverSealed}; commit->discovered p50 ${ms(step.toDiscovered.p50)} p99 ${ms(step.toDiscovered.p99)}, discovered->sealed p50 ${ms(step.toSealed.p50)} p99 ${ms(step.toSealed.p99)}; discovery cycle p50 ${ms(step.cycle.p50)} p99 ${ms(step.cycle.p99)}; ${step.jobs} seal jobs: wait p50 ${ms(step.jobWait.p50)} p99 ${ms(step.jobWait.p99)}, run p50 ${ms(step.jobRun.p50)} p99 ${ms(step.jobRun.p99)}: ${step.passed ? 'pass' : 'miss'} (load ${load()})`,
      );
      // The next step starts with the backlog sealed, whatever this one left.
      const drainFrom = performance.now();
      while ((await pendingRows(scratch.url)) > 0 && performance.now() - drainFrom < 60_000) await sleep(200);
      return step;
    };

    options.log(`paced steps: ${warmupSeconds} s warm-up + ${stepSeconds} s measured each, ${1 + searchSteps} steps, worker running (${workerSettings()})`);
    const steps: Step[] = [];
    let low = 0;
    let high = 1;
    let fraction = TARGET_FRACTION;
    for (let index = 0; index <= searchSteps; index += 1) {
      const step = await runStep(fraction);
      steps.push(step);
      if (step.passed) low = fraction;
      else high = fraction;
      fraction = (low + high) / 2;
    }

    await poller.stop();
    worker.kill('SIGTERM');
    await workerExited;
    await writers.close();
    await scratch.drop();
    const loadAfter = load();

    const atTarget = steps[0]!;
    const best = steps.filter((step) => step.passed).sort((a, b) => b.achieved - a.achieved)[0];
    const met = atTarget.passed;
    const rowFor = (step: Step) =>
      `| ${step.fraction.toFixed(3)} x | ${step.target.toFixed(0)} rows/s | ${step.achieved.toFixed(0)} rows/s (${(step.achieved / plainMax).toFixed(2)} x) | ${step.lateStarts} | ${step.rows.toLocaleString('en-US')} | ${ms(step.p50)} | ${ms(step.p99)} | ${ms(step.max)} | ${step.neverSealed} | ${ms(step.toDiscovered.p50)} / ${ms(step.toDiscovered.p99)} | ${ms(step.toSealed.p50)} / ${ms(step.toSealed.p99)} | ${step.passed ? 'yes' : 'no'} |`;
    const markdown = [
      '## End-to-end lag',
      '',
      `- Command: \`${options.command}\`; date ${new Date().toISOString()}; load average (1, 5, 15 min) ${loadBefore} before, ${loadAfter} after.`,
      `- Writers: ${WRITERS} connections inserting single rows in autocommit (the same connections and row shape throughout), over ${ORGS} organizations.`,
      `- Plain maximum: the writers unpaced for ${plainWarmup} s + ${plainSeconds} s (commits after the warm-up counted) into \`${plain.table}\`, a chainless copy of audit_logs (${plain.notes}), with no worker running, best of ${MAX_ROUNDS} rounds interleaved with audit_logs': the machine's plain insert rate, so the ratio charges the chain with its own insert-path cost too. audit_logs' own maximum, measured the same way before the worker started, is shown beside it. Late starts: inserts that began more than one pacing interval (connections / rate) after their scheduled moment, i.e. the writer was behind its schedule (whole step, warm-up included). The last two latency columns split each row's latency at the first poll that saw the worker's discovery progress (\`audit_chain_progress.discovered_seq\`) past it: commit to discovered is the worker's horizon and discovery loop, discovered to sealed its dispatch through pg-boss and the seal job.`,
      `- Paced steps: the writers paced to a fraction of the plain maximum into audit_logs, with one \`audit-chain worker\` process (${workerSettings()}) running beside them on the same machine; ${warmupSeconds} s warm-up, then ${stepSeconds} s measured. Achieved rate: the commits after the warm-up over the time from the warm-up's end to the last commit (at least ${stepSeconds} s): writers behind their schedule go on inserting after the step's end, so what they sustained is below the schedule. The first step is at ${TARGET_FRACTION} x, the next ones bisect for the highest fraction that passes (writers kept ${PACE_KEPT * 100} % of the pace, every row sealed, p99 < ${TARGET_MS / 1000} s); each step starts with the backlog sealed.`,
      `- Latency of a row = the first watermark poll (every ${POLL_MS} ms, from a separate connection) that saw its chain sealed past it, minus the moment its COMMIT returned to the writer: measured from outside the worker, ${POLL_MS} ms resolution. A row not sealed ${TAIL_MS / 1000} s after its step's writers stopped counts as never sealed (and as an infinite latency in the percentiles).`,
      '',
      `Plain maximum: **${plainMax.toFixed(0)} rows/s** into \`${plain.table}\`; audit_logs without a worker ${auditLogsMax.toFixed(0)} rows/s (${(auditLogsMax / plainMax).toFixed(2)} x).`,
      '',
      '| step (x plain max) | target rate | achieved rate | late starts | rows measured | p50 | p99 | max | never sealed | commit to discovered p50 / p99 | discovered to sealed p50 / p99 | passed |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |',
      ...steps.map(rowFor),
      '',
      'Profile of the same steps (what the worker spent the latency on): how often discovery advanced, and the seal jobs created in the measured window, from pg-boss\'s job table (created -> started: waiting in the queue for a lane; started -> completed: the seal job).',
      '',
      '| step | discovery cycle p50 / p99 | seal jobs | job wait p50 / p99 | job run p50 / p99 |',
      '| ---: | ---: | ---: | ---: | ---: |',
      ...steps.map((step) => `| ${step.fraction.toFixed(3)} x | ${ms(step.cycle.p50)} / ${ms(step.cycle.p99)} | ${step.jobs.toLocaleString('en-US')} | ${ms(step.jobWait.p50)} / ${ms(step.jobWait.p99)} | ${ms(step.jobRun.p50)} / ${ms(step.jobRun.p99)} |`),
      '',
      best
        ? `Highest passing rate: ${best.achieved.toFixed(0)} rows/s = **${(best.achieved / plainMax).toFixed(2)} x** the plain maximum (p99 ${ms(best.p99)}); bisection resolution ${(1 / 2 ** (searchSteps + 1)).toFixed(3)} x.`
        : `No step passed (lowest tried ${Math.min(...steps.map((step) => step.fraction)).toFixed(3)} x).`,
      '',
      'Targets (issue 14):',
      '',
      `- ${met ? 'PASS' : 'MISS'} commit-to-sealed p99 < 1 s at >= ${TARGET_FRACTION} x the plain insert rate: p99 ${ms(atTarget.p99)} at ${atTarget.achieved.toFixed(0)} rows/s (${(atTarget.achieved / plainMax).toFixed(2)} x ${plainMax.toFixed(0)} rows/s)${atTarget.neverSealed ? `, ${atTarget.neverSealed} rows never sealed` : ''}`,
    ].join('\n');
    return {
      markdown,
      targets: [
        {
          name: `commit-to-sealed p99 < 1 s at >= ${TARGET_FRACTION} x the plain insert rate`,
          met,
          measured: `p99 ${ms(atTarget.p99)} at ${(atTarget.achieved / plainMax).toFixed(2)} x; highest passing ${best ? `${(best.achieved / plainMax).toFixed(2)} x` : 'none'}`,
        },
      ],
    };
  },
};

/** Queue wait and run time (ms) of the seal jobs created since `since`, sorted. */
async function sealJobTimes(url: string, since: Date): Promise<{ wait: number[]; run: number[] }> {
  const client = new pg.Client({ connectionString: url, application_name: 'audit-chain bench' });
  await client.connect();
  try {
    const result = await client.query<{ wait: number; run: number }>(
      `select extract(epoch from started_on - created_on) * 1000 as wait, extract(epoch from completed_on - started_on) * 1000 as run
         from audit_chain_boss.job where name = 'audit-chain-seal' and created_on >= $1 and completed_on is not null`,
      [since],
    );
    return {
      wait: result.rows.map((row) => Number(row.wait)).sort((a, b) => a - b),
      run: result.rows.map((row) => Number(row.run)).sort((a, b) => a - b),
    };
  } finally {
    await client.end();
  }
}

async function pendingRows(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url, application_name: 'audit-chain bench' });
  await client.connect();
  try {
    const result = await client.query<{ n: string }>('select count(*)::text as n from audit_logs where checksum is null');
    return Number(result.rows[0]!.n);
  } finally {
    await client.end();
  }
}
