// The soak: its own PostgreSQL, the API and two worker replicas as child
// processes, writers over HTTP and SQL for the run's duration while faults are
// injected, then a drain and the checks. Returns every count and every failed
// check; run.ts prints them and sets the exit status.
import { randomBytes } from 'node:crypto';
import { createPool } from '@audit-chain/db';
import { sealOnce } from '@audit-chain/sealing';
import { rowPresence, tableCounts, verifyChains, type ChainVerification, type RowPresence, type TableCounts } from './checks.ts';
import { startSoakCluster } from './cluster.ts';
import { startCitusSoakCluster } from './citus-cluster.ts';
import { describeLag } from './diagnostics.ts';
import { StallWatch, type Stall } from './stall-watch.ts';
import { planFaults, runFaults, type InjectedFault } from './faults.ts';
import { runHttpWriters } from './http-writers.ts';
import { Ledger } from './ledger.ts';
import type { SoakOptions } from './options.ts';
import { startApi, type UnexpectedExit, type WorkerTuning } from './processes.ts';
import { seededRandom } from './random.ts';
import { WorkerReplicas } from './replicas.ts';
import { runSqlWriters } from './sql-writers.ts';
import { makeOrgs } from './workload.ts';

/** The shape of the load and of the deployment under test (the report describes the run from it). */
export const SOAK_SHAPE = {
  workerTuning: { pollMs: 100, batchSize: 1000, concurrency: 2 } satisfies WorkerTuning,
  replicas: 2,
  httpClients: 6,
  sqlConnections: 4,
  /** Besides the hot one and the system chain. */
  orgs: 8,
} as const;
/** How long the workers get to seal everything after the writers stop; a chain still pending after this is a stuck worker. */
const DRAIN_TIMEOUT_MS = 60_000;
const WRITERS_STOP_TIMEOUT_MS = 30_000;
const WORKER_STOP_TIMEOUT_MS = 40_000;
/**
 * The longest a chain with discovered rows may wait for its watermark to move.
 * Normal runs stay under ~4 s, restart included (the dispatch loop's backoff);
 * a worker that sleeps through its seal jobs (the pg-boss NOTIFY backstop of
 * 30 s, fixed in 01f3130) goes far past it.
 */
const STALL_LIMIT_SECONDS = 15;

export interface SoakResult {
  options: SoakOptions;
  startedAt: Date;
  wallSeconds: number;
  ledger: Ledger;
  faults: InjectedFault[];
  workersStarted: number;
  /** Seconds the workers took to seal what was pending when the writers stopped; undefined if they did not. */
  drainSeconds: number | undefined;
  /** The longest time a chain had discovered rows above its watermark without the watermark moving. */
  longestStallSeconds: number;
  /** Chains stalled for 5 s or more, with what the pipeline looked like then. */
  stalls: Stall[];
  /** Rows the final `sealOnce` still had to seal (0 when the workers drained everything). */
  sealedByFinalPass: number;
  counts: TableCounts;
  presence: RowPresence;
  verification: ChainVerification;
  /** Every failed check, as "got X, want Y" sentences; empty when the soak passed. */
  failures: string[];
}

export async function runSoak(options: SoakOptions, log: (line: string) => void): Promise<SoakResult> {
  const startedAt = new Date();
  const started = Date.now();
  const failures: string[] = [];
  const onUnexpectedExit = (exit: UnexpectedExit) => {
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    failures.push(`${exit.name} exited by itself (${how}), want it running until the soak stops it; its last output:\n${exit.output.slice(-3000)}`);
    log(`${exit.name} exited by itself (${how})`);
  };
  log(`seed ${options.seed}; ${options.durationSeconds} s of writes under faults`);

  const cluster = options.citusUrl === undefined ? await startSoakCluster() : await startCitusSoakCluster(options.citusUrl);
  log(
    cluster.topology === 'citus'
      ? `Citus: database ${cluster.dataDir} on the coordinator (port ${cluster.port}) and ${cluster.workerUrls.length} workers (ports ${cluster.workerUrls.map((url) => new URL(url).port).join(', ')}), audit_logs distributed by org_id`
      : `embedded PostgreSQL on port ${cluster.port}, data in ${cluster.dataDir}`,
  );
  const pool = createPool(cluster.databaseUrl, { applicationName: 'audit-chain soak', max: 4 });
  let workers: WorkerReplicas | undefined;
  let api: Awaited<ReturnType<typeof startApi>> | undefined;
  try {
    const token = randomBytes(16).toString('hex');
    api = await startApi(cluster.databaseUrl, token, onUnexpectedExit);
    workers = new WorkerReplicas(cluster.databaseUrl, SOAK_SHAPE.workerTuning, SOAK_SHAPE.replicas, onUnexpectedExit);
    await waitForWorkers(pool, workers);
    log(`API on ${api.baseUrl}; ${SOAK_SHAPE.replicas} worker replicas up (${((Date.now() - started) / 1000).toFixed(1)} s after start)`);

    const ledger = new Ledger();
    const random = seededRandom(options.seed);
    const orgs = makeOrgs(SOAK_SHAPE.orgs, { systemChain: cluster.topology === 'embedded' });
    const durationMs = options.durationSeconds * 1000;
    const plan = planFaults(durationMs, random.fork(1), cluster.topology);
    log(`fault plan: ${plan.map((fault) => `${(fault.atMs / 1000).toFixed(0)} s ${fault.kind}`).join(', ')}`);

    const stallWatch = new StallWatch(pool, log, () => recentOutput(workers!));
    stallWatch.start();
    let writing = true;
    const running = () => writing;
    const writeStart = Date.now();
    const writers = Promise.all([
      runHttpWriters({ baseUrl: api.baseUrl, token, clients: SOAK_SHAPE.httpClients, orgs, random: random.fork(2), ledger, running, maxPauseMs: 20 }),
      runSqlWriters({ databaseUrl: cluster.databaseUrl, connections: SOAK_SHAPE.sqlConnections, orgs, random: random.fork(3), ledger, running, maxPauseMs: 20 }),
    ]);
    const faults = runFaults(
      plan,
      {
        cluster,
        workers,
        pool,
        apiBaseUrl: api.baseUrl,
        random: random.fork(4),
        elapsed: () => Date.now() - writeStart,
        log,
        problem: (message) => failures.push(message),
      },
      running,
    );
    const progress = setInterval(() => void logProgress(pool, ledger, writeStart, log), 10_000);
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    writing = false;
    clearInterval(progress);
    if ((await within(WRITERS_STOP_TIMEOUT_MS, writers)) === 'timeout') failures.push(`the writers did not stop within ${WRITERS_STOP_TIMEOUT_MS / 1000} s`);
    const injected = await faults;
    log(`writers stopped after ${((Date.now() - writeStart) / 1000).toFixed(1)} s`);

    const drainSeconds = await drain(pool, log);
    if (drainSeconds === undefined) {
      const counts = await tableCounts(pool);
      failures.push(`the workers did not seal everything within ${DRAIN_TIMEOUT_MS / 1000} s of the writers stopping: ${counts.rows - counts.sealed} rows still pending, want 0`);
    }
    log(drainSeconds === undefined ? 'workers did NOT drain' : `workers drained in ${drainSeconds.toFixed(1)} s`);
    stallWatch.stop();

    for (const stopped of await workers.stopAll(WORKER_STOP_TIMEOUT_MS)) {
      if (stopped.timedOut || stopped.code !== 0) {
        failures.push(`${stopped.name} on SIGTERM: got ${stopped.timedOut ? `no exit within ${WORKER_STOP_TIMEOUT_MS / 1000} s` : `exit code ${stopped.code} signal ${stopped.signal}`}, want exit code 0; its last output:\n${stopped.output.slice(-3000)}`);
      }
    }
    const apiStop = await api.stop('SIGTERM', 15_000);
    if (apiStop.timedOut || apiStop.code !== 0) failures.push(`the API on SIGTERM: got ${apiStop.timedOut ? 'no exit within 15 s' : `exit code ${apiStop.code}`}, want exit code 0`);

    const final = await sealOnce(pool, { batchSize: 5000, waitMs: 10_000, pollMs: 100 });
    for (const broken of final.broken) failures.push(`the final seal --once pass found a broken invariant: ${broken.message}`);
    if (final.holders.length > 0) failures.push(`the final seal --once pass found ${final.holders.length} open audit writers after every writer stopped, want none`);

    const counts = await tableCounts(pool);
    const presence = await rowPresence(pool, ledger);
    const verification = await verifyChains(pool, cluster.databaseUrl, counts.rows);
    failures.push(...judge(ledger, counts, presence, verification));
    for (const stall of stallWatch.stalls.filter((entry) => entry.seconds > STALL_LIMIT_SECONDS)) {
      failures.push(`chain ${stall.chain} had rows to seal but its watermark did not move for ${stall.seconds.toFixed(1)} s, want at most ${STALL_LIMIT_SECONDS} s (a stuck worker or a lost wake-up); then: ${stall.lag}`);
    }

    return {
      options,
      startedAt,
      wallSeconds: (Date.now() - started) / 1000,
      ledger,
      faults: injected,
      workersStarted: workers.started,
      drainSeconds,
      longestStallSeconds: stallWatch.longestMs / 1000,
      stalls: stallWatch.stalls,
      sealedByFinalPass: final.sealed,
      counts,
      presence,
      verification,
      failures,
    };
  } finally {
    await Promise.all([...(workers?.slots ?? []), ...(api ? [api] : [])].map((child) => child.stop('SIGKILL', 5000)));
    await pool.end().catch(() => {});
    await cluster.stop(options.keep);
    if (options.keep) log(`kept ${cluster.topology === 'citus' ? 'the database' : 'the data directory'} ${cluster.dataDir} (port ${cluster.port})`);
  }
}

function judge(ledger: Ledger, counts: TableCounts, presence: RowPresence, verification: ChainVerification): string[] {
  const failures: string[] = [];
  const sample = (ids: string[]) => ids.slice(0, 5).join(', ');
  if (presence.missingAcknowledged.length > 0) failures.push(`acknowledged writes missing: got ${presence.missingAcknowledged.length}, want 0 (e.g. ${sample(presence.missingAcknowledged)})`);
  if (presence.missingCommitted.length > 0) failures.push(`SQL-committed rows missing: got ${presence.missingCommitted.length}, want 0 (e.g. ${sample(presence.missingCommitted)})`);
  if (presence.presentRolledBack.length > 0) failures.push(`rolled-back rows present: got ${presence.presentRolledBack.length}, want 0 (e.g. ${sample(presence.presentRolledBack)})`);
  if (presence.unknown.length > 0) failures.push(`rows no writer wrote: got ${presence.unknown.length}, want 0 (e.g. ${sample(presence.unknown)})`);
  if (counts.sealed !== counts.rows) failures.push(`sealed rows (sum of sealed_count) got ${counts.sealed}, want ${counts.rows} (the rows in audit_logs)`);
  const { walk } = verification;
  if (walk && walk.pending > 0) failures.push(`chain walk: rows above their chain's watermark got ${walk.pending}, want 0`);
  if (walk && walk.sealed !== counts.rows) failures.push(`chain walk: rows at or below their watermark got ${walk.sealed}, want ${counts.rows}`);
  for (const problem of walk?.problems.slice(0, 20) ?? []) failures.push(`chain walk: ${problem}`);
  if (verification.verifier && !verification.verifier.ran) failures.push(`audit-chain verify could not run (exit ${verification.verifier.exitCode}):\n${verification.verifier.output}`);
  const totals = verification.verifier?.totals;
  if (totals && (totals.sealed !== counts.rows || totals.pending !== 0)) failures.push(`audit-chain verify checked ${totals.sealed} rows and left ${totals.pending} pending, want ${counts.rows} and 0`);
  if (verification.verifier && verification.verifier.breaks > 0) failures.push(`audit-chain verify: got ${verification.verifier.breaks} breaks, want 0:\n${verification.verifier.output}`);
  for (const chain of counts.halted) failures.push(`chain ${chain.chain} is halted (${chain.reason}), want no halted chain`);
  for (const violation of ledger.contractViolations) failures.push(`API contract: ${violation}`);
  if (ledger.acknowledged.size === 0 || ledger.committed.size === 0) failures.push(`got ${ledger.acknowledged.size} acknowledged and ${ledger.committed.size} SQL-committed rows, want some of each`);
  return failures;
}

/** Waits until every row is sealed; the seconds it took, or undefined after DRAIN_TIMEOUT_MS. */
async function drain(pool: ReturnType<typeof createPool>, log: (line: string) => void): Promise<number | undefined> {
  const started = Date.now();
  let described = started;
  while (Date.now() - started < DRAIN_TIMEOUT_MS) {
    const counts = await tableCounts(pool).catch(() => undefined);
    if (counts && counts.sealed === counts.rows) return (Date.now() - started) / 1000;
    if (Date.now() - described >= 5000) {
      described = Date.now();
      log(`draining for ${((described - started) / 1000).toFixed(0)} s: ${await describeLag(pool).catch((error: unknown) => String(error))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return undefined;
}

/** Both replicas wrote their first heartbeat: they are connected and running. */
async function waitForWorkers(pool: ReturnType<typeof createPool>, workers: WorkerReplicas): Promise<void> {
  const deadline = Date.now() + 30_000;
  const pids = workers.slots.map((worker) => worker.pid);
  while (true) {
    const result = await pool.query<{ n: number }>('select count(*)::int as n from audit_chain_workers where pid = any($1::int[])', [pids]);
    if (result.rows[0]!.n === pids.length) return;
    if (Date.now() > deadline) {
      throw new Error(`the workers did not write a heartbeat within 30 s:\n${workers.slots.map((worker) => `${worker.name}: ${worker.output()}`).join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function logProgress(pool: ReturnType<typeof createPool>, ledger: Ledger, writeStart: number, log: (line: string) => void): Promise<void> {
  const counts = await tableCounts(pool).catch(() => undefined);
  log(
    `${((Date.now() - writeStart) / 1000).toFixed(0)} s: http ${ledger.http.acknowledgedRequests}/${ledger.http.requests} requests acknowledged, ` +
      `${ledger.acknowledged.size} events; sql ${ledger.committed.size} rows committed; ` +
      (counts ? `table ${counts.rows} rows, ${counts.sealed} sealed` : 'table not readable right now'),
  );
}

/** The last lines each live worker logged (warnings and errors only), for a stall's report. */
function recentOutput(workers: WorkerReplicas): string {
  return workers.slots
    .map((worker) => {
      const lines = worker.output().trim().split('\n').slice(-4).map((line) => `    ${line.slice(0, 400)}`);
      return `  ${worker.name} (pid ${worker.pid}):\n${lines.join('\n')}`;
    })
    .join('\n');
}

async function within<T>(timeoutMs: number, promise: Promise<T>): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
