// The faults the soak injects, on a seeded schedule: SIGKILL a worker (and
// start a replacement after a moment), terminate the workers' backends, and
// restart PostgreSQL once. After the restart the soak checks that the API and
// every worker came back by themselves; a process that does not is a finding,
// never retried around.
import pg from 'pg';
import type { SoakCluster } from './cluster.ts';
import { ready } from './processes.ts';
import type { Random } from './random.ts';
import type { WorkerReplicas } from './replicas.ts';

export type FaultKind = 'kill-worker' | 'terminate-worker-backends' | 'restart-postgres' | 'terminate-node-connections';
export const FAULT_KINDS: readonly FaultKind[] = ['kill-worker', 'terminate-worker-backends', 'restart-postgres', 'terminate-node-connections'];

/**
 * The once-per-run fault of each topology: the embedded PostgreSQL is
 * restarted; on a Citus cluster (shared, never stopped) every connection the
 * coordinator holds to the soak database on each worker is terminated instead,
 * cutting writes, two-phase commits and sealing batches in flight there.
 */
export function onceFault(topology: 'embedded' | 'citus'): FaultKind {
  return topology === 'citus' ? 'terminate-node-connections' : 'restart-postgres';
}

/** The kinds a run of this topology injects. */
export function faultKinds(topology: 'embedded' | 'citus'): FaultKind[] {
  return ['kill-worker', 'terminate-worker-backends', onceFault(topology)];
}

export interface PlannedFault {
  atMs: number;
  kind: FaultKind;
}

export interface InjectedFault {
  kind: FaultKind;
  /** Milliseconds since the writers started. */
  atMs: number;
  detail: string;
}

const FIRST_FAULT_MS = 6000;
/** The last stretch of the run has no faults, so the last one's recovery is seen under load. */
const QUIET_TAIL = 0.15;

/**
 * One fault every ~11 s (short run) or ~15 s (long run), with jitter; each kind
 * at least once, the PostgreSQL restart exactly once, in the middle third.
 */
export function planFaults(durationMs: number, random: Random, topology: 'embedded' | 'citus' = 'embedded'): PlannedFault[] {
  const once = onceFault(topology);
  const lastMs = durationMs * (1 - QUIET_TAIL);
  const interval = Math.min(durationMs <= 120_000 ? 11_000 : 15_000, Math.max(1000, (lastMs - FIRST_FAULT_MS) / 3));
  const times: number[] = [];
  for (let at = FIRST_FAULT_MS; at <= lastMs; at += interval) times.push(Math.max(1000, Math.round(at + random.int(-1500, 1500) * (interval / 11_000))));
  while (times.length < 3) times.push(Math.round(lastMs));
  const third = Math.floor(times.length / 3);
  const restartSlot = random.int(third, Math.max(third, times.length - 1 - third));
  let kind: FaultKind = random.next() < 0.5 ? 'kill-worker' : 'terminate-worker-backends';
  const plan = times.map((atMs, slot): PlannedFault => {
    if (slot === restartSlot) return { atMs, kind: once };
    const planned = { atMs, kind };
    // Mostly alternating, sometimes the same kind twice in a row.
    if (random.next() < 0.75) kind = kind === 'kill-worker' ? 'terminate-worker-backends' : 'kill-worker';
    return planned;
  });
  for (const needed of faultKinds(topology)) {
    if (!plan.some((fault) => fault.kind === needed)) {
      const slot = plan.findIndex((fault, index) => index !== restartSlot && plan.filter((other) => other.kind === fault.kind).length > 1);
      plan[slot]!.kind = needed;
    }
  }
  return plan;
}

export interface FaultContext {
  cluster: SoakCluster;
  workers: WorkerReplicas;
  /** The driver's own pool on the soak database. */
  pool: pg.Pool;
  apiBaseUrl: string;
  random: Random;
  /** Milliseconds since the writers started. */
  elapsed(): number;
  log(line: string): void;
  /** A process that did not recover: recorded as a failed check. */
  problem(message: string): void;
}

/** Runs the plan in order (each fault after the previous one has finished); stops early when `running` turns false. */
export async function runFaults(plan: PlannedFault[], context: FaultContext, running: () => boolean): Promise<InjectedFault[]> {
  const injected: InjectedFault[] = [];
  for (const fault of plan) {
    while (running() && context.elapsed() < fault.atMs) await pause(Math.min(250, fault.atMs - context.elapsed()));
    if (!running()) break;
    const atMs = context.elapsed();
    const detail = await inject(fault.kind, context);
    context.log(`fault at ${(atMs / 1000).toFixed(1)} s: ${fault.kind}: ${detail}`);
    injected.push({ kind: fault.kind, atMs, detail });
  }
  return injected;
}

async function inject(kind: FaultKind, context: FaultContext): Promise<string> {
  switch (kind) {
    case 'kill-worker': {
      const slot = context.random.int(0, context.workers.slots.length - 1);
      const downMs = context.random.int(300, 3000);
      const { killed, replacement } = await context.workers.killAndReplace(slot, downMs);
      return `SIGKILL ${killed.name} (pid ${killed.pid}); ${replacement.name} (pid ${replacement.pid}) started ${downMs} ms later`;
    }
    case 'terminate-worker-backends': {
      const result = await context.pool.query<{ terminated: number; seen: number }>(
        `select count(*) filter (where pg_terminate_backend(pid))::int as terminated, count(*)::int as seen
           from pg_stat_activity
          where datname = current_database() and application_name like 'audit-chain worker%' and pid <> pg_backend_pid()`,
      );
      const { terminated, seen } = result.rows[0]!;
      return `pg_terminate_backend on ${terminated} of ${seen} worker backends`;
    }
    case 'restart-postgres':
      return restartPostgres(context);
    case 'terminate-node-connections':
      return terminateNodeConnections(context);
  }
}

/** Citus: on every worker, terminates the backends serving the soak database (the coordinator's connections). */
async function terminateNodeConnections(context: FaultContext): Promise<string> {
  const parts: string[] = [];
  for (const url of context.cluster.workerUrls) {
    const client = new pg.Client({ connectionString: url, application_name: 'audit-chain soak fault' });
    await client.connect();
    try {
      const result = await client.query<{ terminated: number; seen: number }>(
        `select count(*) filter (where pg_terminate_backend(pid))::int as terminated, count(*)::int as seen
           from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`,
      );
      const { terminated, seen } = result.rows[0]!;
      parts.push(`${new URL(url).port}: ${terminated} of ${seen}`);
    } finally {
      await client.end();
    }
  }
  return `pg_terminate_backend on the soak database's backends of each worker (port: terminated of seen): ${parts.join(', ')}`;
}

const RECOVERY_TIMEOUT_MS = 45_000;

/**
 * Stops PostgreSQL and starts it again on the same data directory and port,
 * then waits for the API to answer /readyz and for every live worker to seal
 * rows again: a worker whose heartbeat row, written after the restart, later
 * shows more sealed rows has both a working pool and working seal jobs.
 */
async function restartPostgres(context: FaultContext): Promise<string> {
  const pauseMs = context.random.int(500, 2000);
  const { downMs } = await context.cluster.restart(pauseMs);
  // The driver's pool may still hold a connection cut by the restart: retry.
  let dbNow: Date | undefined;
  await within(RECOVERY_TIMEOUT_MS, async () => {
    dbNow = (await context.pool.query<{ now: Date }>('select now()')).rows[0]!.now;
    return true;
  });
  if (dbNow === undefined) throw new Error(`the soak's own connection could not reach PostgreSQL within ${RECOVERY_TIMEOUT_MS / 1000} s of the restart`);
  const restartedAt = dbNow;
  const parts = [`down ${(downMs / 1000).toFixed(1)} s`];

  const apiMs = await within(RECOVERY_TIMEOUT_MS, () => ready(context.apiBaseUrl));
  if (apiMs === undefined) context.problem(`after the PostgreSQL restart the API did not answer /readyz with 200 within ${RECOVERY_TIMEOUT_MS / 1000} s`);
  parts.push(apiMs === undefined ? 'API NOT ready' : `API ready after ${(apiMs / 1000).toFixed(1)} s`);

  const sealedAtRestart = await sealedRows(context.pool).catch(() => undefined);
  const sealingMs = await within(RECOVERY_TIMEOUT_MS, async () => (await sealedRows(context.pool)) > (sealedAtRestart ?? Infinity));
  parts.push(sealingMs === undefined ? 'no watermark moved' : `watermarks moving after ${(sealingMs / 1000).toFixed(1)} s`);

  const workers = context.workers.slots.filter((worker) => worker.alive());
  const recovered = await Promise.all(
    workers.map(async (worker) => {
      let firstSealed: number | undefined;
      const ms = await within(RECOVERY_TIMEOUT_MS, async () => {
        if (!worker.alive()) return true;
        const row = await heartbeat(context.pool, worker.pid, restartedAt);
        if (row === undefined) return false;
        firstSealed ??= row.sealedRows;
        return row.sealedRows > firstSealed;
      });
      if (!worker.alive()) return `${worker.name} exited`;
      if (ms === undefined) {
        context.problem(
          `after the PostgreSQL restart ${worker.name} (pid ${worker.pid}) ${firstSealed === undefined ? 'wrote no heartbeat' : 'wrote heartbeats but sealed no rows'} within ${RECOVERY_TIMEOUT_MS / 1000} s:\n${worker.output().slice(-3000)}`,
        );
        return `${worker.name} NOT sealing`;
      }
      return `${worker.name} heartbeat shows new seals after ${(ms / 1000).toFixed(1)} s`;
    }),
  );
  parts.push(...recovered);
  return parts.join('; ');
}

async function sealedRows(pool: pg.Pool): Promise<number> {
  const result = await pool.query<{ sealed: string }>('select coalesce(sum(sealed_count), 0)::text as sealed from audit_chain_state');
  return Number(result.rows[0]!.sealed);
}

async function heartbeat(pool: pg.Pool, pid: number, after: Date): Promise<{ sealedRows: number } | undefined> {
  const result = await pool.query<{ sealed_rows: string }>(
    'select sealed_rows::text from audit_chain_workers where pid = $1 and heartbeat_at > $2 order by heartbeat_at desc limit 1',
    [pid, after],
  );
  const row = result.rows[0];
  return row ? { sealedRows: Number(row.sealed_rows) } : undefined;
}

/** Polls `condition` until it holds (returns the milliseconds it took) or `timeoutMs` passes (undefined). */
async function within(timeoutMs: number, condition: () => Promise<boolean>): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await condition().catch(() => false)) return Date.now() - started;
    await pause(250);
  }
  return undefined;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
