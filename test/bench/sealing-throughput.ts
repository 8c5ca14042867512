// Issues 7 and 14: a backlog of 100 organizations, one holding half of the rows,
// drained by one sealing worker (a real `audit-chain worker` process) and,
// separately, by `audit-chain seal --once`; then the command-line verifier
// checks the worker's chains. Each drain is set beside its floor, measured in the
// same run on the same data: one UPDATE writing the same chain values into an
// identical copy of the table (same columns, defaults, CHECKs, indexes and
// triggers, loaded with the same rows at the same time). Two backlog sizes are
// drained so peak memory can be compared across them.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '@audit-chain/db';
import { createScratchDatabase } from './scratch-database.ts';
import { WORKER_ENV, workerSettings } from './worker-env.ts';
import type { BenchOptions, BenchSection, SectionReport, TargetCheck } from './section.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const ORGS = 100;

/** The last one is `seal --once` as a user types it: without the deployment's NODE_OPTIONS, under the heap bound the command sets itself (apps/cli/src/heap-bound.ts). */
type Sealer = 'worker' | 'seal --once' | 'seal --once, no NODE_OPTIONS';

interface DrainResult {
  sealer: Sealer;
  rows: number;
  /** The single UPDATE on the identical copy, in seconds. */
  floorSeconds: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMiB: number;
  verifySeconds?: number;
  verifyRowsPerSecond?: number;
  verifyExit?: number | null;
  verifyPeakRssMiB?: number;
}

/**
 * The floor's table: audit_logs' definition (LIKE ... INCLUDING ALL gives columns,
 * defaults, identity, CHECKs and indexes; triggers are copied by their definition)
 * holding the same rows, still pending.
 */
async function createFloorCopy(client: pg.Client): Promise<void> {
  await client.query('create table audit_logs_floor (like audit_logs including all)');
  const triggers = await client.query<{ def: string }>(
    `select pg_get_triggerdef(oid) as def from pg_trigger where tgrelid = 'audit_logs'::regclass and not tgisinternal order by tgname`,
  );
  for (const { def } of triggers.rows) {
    const copied = def.replace(/ ON (audit_chain\.)?audit_logs /, ' ON audit_logs_floor ');
    if (copied === def) throw new Error(`cannot copy trigger: ${def}`);
    await client.query(copied);
  }
  await client.query('insert into audit_logs_floor overriding system value select * from audit_logs order by chain_seq');
}

/**
 * The floor: the chain values the sealer stored, staged in a table of their own,
 * then written into the copy by one UPDATE (timed alone, after a checkpoint).
 */
async function measureFloor(client: pg.Client, rows: number): Promise<number> {
  await client.query(
    `create unlogged table audit_logs_floor_links as
       select chain_seq, prev_checksum, checksum, checksum_version, pii_digest, pii_salt from audit_logs`,
  );
  await client.query('analyze audit_logs_floor_links');
  await client.query('checkpoint');
  const started = performance.now();
  const updated = await client.query(
    `update audit_logs_floor a
        set prev_checksum = l.prev_checksum, checksum = l.checksum, checksum_version = l.checksum_version,
            pii_digest = l.pii_digest, pii_salt = l.pii_salt
       from audit_logs_floor_links l
      where a.chain_seq = l.chain_seq`,
  );
  const seconds = (performance.now() - started) / 1000;
  if (updated.rowCount !== rows) throw new Error(`the floor UPDATE wrote ${updated.rowCount} rows, want ${rows}`);
  return seconds;
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

/**
 * A deployed worker has run before a backlog forms: pg-boss's schema and queues
 * exist. So the worker runs once on the empty, migrated database until it says
 * it has started, and stops; the timed drain then starts a fresh worker, whose
 * start-up no longer includes installing pg-boss.
 */
async function warmStart(url: string): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'worker'], { env: { ...process.env, DATABASE_URL: url, ...WORKER_ENV, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  const started = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('sealing worker started')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`the warm-up worker exited with ${code} before it started: ${output.slice(-2000)}`)));
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 120_000);
  try {
    await started;
  } finally {
    clearTimeout(timeout);
    child.kill('SIGTERM');
    await exited;
  }
}

async function sealedTotal(client: pg.Client): Promise<number> {
  const result = await client.query<{ n: string }>('select coalesce(sum(sealed_count), 0)::text as n from audit_chain_state');
  return Number(result.rows[0]?.n ?? 0);
}

async function drain(options: BenchOptions, rows: number, sealer: Sealer): Promise<DrainResult> {
  const scratch = await createScratchDatabase(options.serverUrl, 'sealing');
  options.onCleanup(() => scratch.drop());
  await migrate(scratch.url);
  if (sealer === 'worker') await warmStart(scratch.url);
  const client = new pg.Client({ connectionString: scratch.url, application_name: 'audit-chain bench' });
  await client.connect();
  try {
    options.log(`loading a backlog of ${rows.toLocaleString('en-US')} rows (${ORGS} organizations, one holding half) and its identical copy`);
    await loadBacklog(client, rows);
    await createFloorCopy(client);
    await client.query('analyze audit_logs_floor');
    await client.query('checkpoint');

    const args = sealer === 'worker' ? [CLI, 'worker'] : [CLI, 'seal', '--once', '--wait-ms', '1000'];
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: scratch.url, ...WORKER_ENV };
    if (sealer === 'seal --once, no NODE_OPTIONS') delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, args, {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const started = performance.now();
    let peak = 0;
    const sample = () => {
      try {
        const value = peakRssMiB(child.pid);
        if (Number.isFinite(value)) peak = Math.max(peak, value);
      } catch {
        // exited between two samples
      }
    };
    const sampler = setInterval(sample, 50);
    let seconds: number;
    try {
      if (sealer === 'worker') {
        const deadline = Date.now() + 15 * 60_000;
        while ((await sealedTotal(client)) < rows) {
          if (child.exitCode !== null) throw new Error(`the worker exited with ${child.exitCode}: ${stderr.slice(-2000)}`);
          if (Date.now() > deadline) throw new Error('the backlog did not drain in 15 minutes');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        seconds = (performance.now() - started) / 1000;
        sample();
        child.kill('SIGTERM');
        await exited;
      } else {
        const code = await exited;
        seconds = (performance.now() - started) / 1000;
        if (code !== 0) throw new Error(`seal --once exited with ${code}: ${stderr.slice(-2000)}`);
        const sealed = await sealedTotal(client);
        if (sealed !== rows) throw new Error(`seal --once sealed ${sealed} rows, want ${rows}`);
      }
    } finally {
      clearInterval(sampler);
    }
    options.log(`${sealer}: drained ${rows.toLocaleString('en-US')} rows in ${seconds.toFixed(1)} s (peak RSS ${peak.toFixed(0)} MiB)`);

    const floorSeconds = await measureFloor(client, rows);
    options.log(`floor: one UPDATE of the identical copy in ${floorSeconds.toFixed(1)} s (${(seconds / floorSeconds).toFixed(2)} x)`);
    const result: DrainResult = { sealer, rows, floorSeconds, seconds, rowsPerSecond: rows / seconds, peakRssMiB: peak };
    if (sealer === 'worker') {
      const verify = await runVerify(scratch.url);
      options.log(`verified in ${verify.seconds.toFixed(1)} s (exit ${verify.exit}, peak RSS ${verify.peakRssMiB.toFixed(0)} MiB)`);
      Object.assign(result, {
        verifySeconds: verify.seconds,
        verifyRowsPerSecond: rows / verify.seconds,
        verifyExit: verify.exit,
        verifyPeakRssMiB: verify.peakRssMiB,
      });
    }
    return result;
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

const ratio = (r: DrainResult) => r.seconds / r.floorSeconds;

export const sealingThroughputSection: BenchSection = {
  id: 'sealing',
  title: 'Sealing and verification throughput',
  async run(options: BenchOptions): Promise<SectionReport> {
    const sizes = options.quick ? [50_000, 200_000] : [200_000, 1_000_000];
    const load = (await readFile('/proc/loadavg', 'utf8').catch(() => '')).split(' ').slice(0, 3).join(' ');
    const results: DrainResult[] = [];
    for (const sealer of ['worker', 'seal --once'] as const) {
      for (const size of sizes) results.push(await drain(options, size, sealer));
    }
    results.push(await drain(options, sizes[sizes.length - 1]!, 'seal --once, no NODE_OPTIONS'));
    const loadAfter = (await readFile('/proc/loadavg', 'utf8').catch(() => '')).split(' ').slice(0, 3).join(' ');
    const of = (sealer: Sealer) => results.filter((r) => r.sealer === sealer);
    const [small, full] = of('worker') as [DrainResult, DrainResult];
    const [onceSmall, onceFull] = of('seal --once') as [DrainResult, DrainResult];
    const [unbounded] = of('seal --once, no NODE_OPTIONS') as [DrainResult];
    const targets: TargetCheck[] = [
      { name: `worker sealing >= 30,000 rows/s (${fmt(full.rows)} backlog)`, met: full.rowsPerSecond >= 30_000, measured: `${fmt(full.rowsPerSecond)} rows/s` },
      { name: `worker drains ${fmt(full.rows)} rows in < 35 s`, met: full.seconds < 35, measured: `${fmt(full.seconds, 1)} s` },
      { name: `worker within 1.3 x its floor (${fmt(full.rows)} rows)`, met: ratio(full) <= 1.3, measured: `${fmt(ratio(full), 2)} x (${fmt(full.seconds, 1)} s against ${fmt(full.floorSeconds, 1)} s)` },
      { name: `seal --once within 1.3 x its floor (${fmt(onceFull.rows)} rows)`, met: ratio(onceFull) <= 1.3, measured: `${fmt(ratio(onceFull), 2)} x (${fmt(onceFull.seconds, 1)} s against ${fmt(onceFull.floorSeconds, 1)} s)` },
      { name: 'worker peak memory < 256 MB', met: Math.max(small.peakRssMiB, full.peakRssMiB) < 256, measured: `${fmt(Math.max(small.peakRssMiB, full.peakRssMiB))} MiB` },
      { name: 'seal --once peak memory < 256 MB', met: Math.max(onceSmall.peakRssMiB, onceFull.peakRssMiB) < 256, measured: `${fmt(Math.max(onceSmall.peakRssMiB, onceFull.peakRssMiB))} MiB` },
      {
        name: 'worker memory independent of the backlog',
        met: full.peakRssMiB < small.peakRssMiB * 1.5,
        measured: `${fmt(small.peakRssMiB)} MiB at ${fmt(small.rows)} rows, ${fmt(full.peakRssMiB)} MiB at ${fmt(full.rows)}`,
      },
      { name: 'seal --once without NODE_OPTIONS (its own heap bound): peak memory < 256 MB', met: unbounded.peakRssMiB < 256, measured: `${fmt(unbounded.peakRssMiB)} MiB at ${fmt(unbounded.rows)} rows` },
      {
        name: 'seal --once memory independent of the backlog',
        met: onceFull.peakRssMiB < onceSmall.peakRssMiB * 1.5,
        measured: `${fmt(onceSmall.peakRssMiB)} MiB at ${fmt(onceSmall.rows)} rows, ${fmt(onceFull.peakRssMiB)} MiB at ${fmt(onceFull.rows)}`,
      },
      {
        name: `verifier >= 100,000 rows/s (${fmt(full.rows)} rows)`,
        met: full.verifyExit === 0 && (full.verifyRowsPerSecond ?? 0) >= 100_000,
        measured: `${fmt(full.verifyRowsPerSecond ?? 0)} rows/s (exit ${full.verifyExit})`,
      },
    ];
    const lines = [
      '## Sealing and verification throughput',
      '',
      `- Command: \`${options.command}\`; date ${new Date().toISOString()}; load average (1, 5, 15 min) ${load} before, ${loadAfter} after`,
      `- Backlog: ${ORGS} organizations, one holding half of the rows, loaded before the sealer starts. Drained by one \`audit-chain worker\` process (started once on the empty database beforehand, so pg-boss's schema exists as in a deployment, then started again for the timed drain), and (on a fresh load) by \`audit-chain seal --once --wait-ms 1000\`, both with ${workerSettings()}; the last row is \`seal --once\` without that NODE_OPTIONS, as a user types it: the command re-executes itself with the same heap bound (apps/cli/src/heap-bound.ts; before that, V8's default limit for this machine's memory applied). The worker's drain time runs from its spawn to the moment the chain states count every row sealed; seal --once's from spawn to exit. Peak memory is the process's VmHWM (peak resident set).`,
      '- Floor, measured in the same run on the same data: the backlog is also loaded into an identical copy of `audit_logs` (columns, defaults, identity, CHECKs, indexes and triggers), at the same time; after the drain the chain values the sealer stored are staged in a table of their own, and one `UPDATE audit_logs_floor ... FROM` that table writes them into the copy (timed alone, after a checkpoint). Ratio = drain time / floor time.',
      '- Verification: `audit-chain verify --all --json --no-record` over the worker\'s drained chains (every row recomputed), timed from spawn to exit.',
      '',
      '| sealer | backlog rows | drain time | sealing rows/s | floor (one UPDATE) | ratio to floor | peak RSS | verify time | verify rows/s | verifier peak RSS | verify exit |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...results.map(
        (r) =>
          `| ${r.sealer} | ${fmt(r.rows)} | ${fmt(r.seconds, 1)} s | ${fmt(r.rowsPerSecond)} | ${fmt(r.floorSeconds, 1)} s (${fmt(r.rows / r.floorSeconds)} rows/s) | ${fmt(ratio(r), 2)} x | ${fmt(r.peakRssMiB)} MiB | ` +
          (r.verifySeconds === undefined
            ? '| | | |'
            : `${fmt(r.verifySeconds, 1)} s | ${fmt(r.verifyRowsPerSecond ?? 0)} | ${fmt(r.verifyPeakRssMiB ?? 0)} MiB | ${r.verifyExit} |`),
      ),
      '',
      'Targets (issues 7 and 14):',
      '',
      ...targets.map((target) => `- ${target.met ? 'PASS' : 'MISS'} ${target.name}: ${target.measured}`),
    ];
    return { markdown: lines.join('\n'), targets };
  },
};
