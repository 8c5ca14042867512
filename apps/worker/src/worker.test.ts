import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { connect, createTestDatabase } from '../../../test/support/database.ts';
import { insertRows, newOrgId, waitFor } from '../../../test/support/audit-rows.ts';
import { checkAllChains, pendingCount } from '../../../test/support/chain-check.ts';
import { freePort } from '@audit-chain/db';
import { StoppedBeforeStartError, startWorker, type RunningWorker } from './worker.ts';

const db = await createTestDatabase();
const logger = pino({ level: 'silent' });
const running: RunningWorker[] = [];
// Each test stops its workers: pg-boss instances share queue supervision, and a
// leftover instance with default intervals would slow the expiry test's.
afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop()));
});

async function worker(overrides: Partial<Parameters<typeof startWorker>[0]> = {}): Promise<RunningWorker> {
  const started = await startWorker({
    databaseUrl: db.url,
    config: { sealing: { pollMs: 50, batchSize: 200, concurrency: 2 } },
    logger,
    heartbeatMs: 200,
    ...overrides,
  });
  running.push(started);
  return started;
}

describe('sealing worker', () => {
  test('seals rows shortly after they commit and records a heartbeat', async () => {
    const sealer = await worker();
    const org = newOrgId();
    await insertRows(db.pool, org, 50);
    await insertRows(db.pool, null, 5);
    await waitFor('all rows sealed', async () => (await pendingCount(db.pool)) === 0, 15_000);
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
    await waitFor('heartbeat with sealed rows', async () => {
      const beat = await db.pool.query(`select sealed_rows from audit_chain_workers where worker_id = $1`, [sealer.identity.workerId]);
      return Number(beat.rows[0]?.sealed_rows ?? 0) >= 55;
    });
    await sealer.stop();
    const stopped = await db.pool.query(`select stopped_at from audit_chain_workers where worker_id = $1`, [sealer.identity.workerId]);
    expect(stopped.rows[0].stopped_at).not.toBeNull();
  });

  test('two replicas and seal --once at the same time: one chain per organization, every committed row sealed once', async () => {
    await worker();
    await worker();
    const orgs = Array.from({ length: 6 }, newOrgId);
    let writing = true;
    const writers = Array.from({ length: 8 }, async (_, index) => {
      const client = await connect(db.url);
      let written = 0;
      while (writing) {
        await insertRows(client, orgs[(index + written) % orgs.length]!, 1 + (written % 4));
        written += 1;
      }
      await client.end();
    });
    const onceRuns = (async () => {
      while (writing) await sealOnce(db.pool, { batchSize: 50, waitMs: 100, pollMs: 10 });
    })();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    writing = false;
    await Promise.all([...writers, onceRuns]);
    await sealOnce(db.pool, { batchSize: 500, waitMs: 5000, pollMs: 10 });
    // Workers may hold a chain's lock while seal --once runs; they finish it.
    await waitFor('all rows sealed', async () => (await pendingCount(db.pool)) === 0, 20_000);
    const halted = await db.pool.query(`select org_id, halted_reason from audit_chain_state where halted_at is not null`);
    expect(halted.rows).toEqual([]);
    const check = await checkAllChains(db.pool);
    expect(check.problems).toEqual([]);
    const forks = await db.pool.query(
      `select org_id, prev_checksum, count(*) from audit_logs where prev_checksum is not null group by 1, 2 having count(*) > 1`,
    );
    expect(forks.rows).toEqual([]);
    const counts = await db.pool.query<{ rows: number; sealed: number }>(
      `select (select count(*)::int from audit_logs) as rows, (select sum(sealed_count)::int from audit_chain_state) as sealed`,
    );
    expect(counts.rows[0]!.sealed).toBe(counts.rows[0]!.rows);
  });

  test('a seal job that outlives its expiry is retried elsewhere while the first attempt runs, without a fork', async () => {
    const org = newOrgId();
    await insertRows(db.pool, org, 10);
    await sealOnce(db.pool, { batchSize: 100, waitMs: 2000, pollMs: 10 });
    const first = await insertRows(db.pool, org, 20);

    // Hold a row lock on a pending row: the first attempt's UPDATE waits on it for longer than the job's expiry.
    const blocker = await connect(db.url, 'blocker');
    await blocker.query('begin');
    await blocker.query('select 1 from audit_logs where chain_seq = $1 for update', [first[5]!.toString()]);
    try {
      const fastExpiry = { jobExpireSeconds: 1, bossOptions: { superviseIntervalSeconds: 1, monitorIntervalSeconds: 1 } };
      const slow = await worker(fastExpiry);
      await waitFor('the first attempt to block on the row lock', async () => {
        const waiting = await db.pool.query(
          `select 1 from pg_stat_activity where datname = current_database() and application_name like 'audit-chain worker%' and wait_event_type = 'Lock'`,
        );
        return (waiting.rowCount ?? 0) > 0;
      });
      const other = await worker(fastExpiry);
      await waitFor('pg-boss to expire the first attempt', async () => {
        // An expired attempt is put back as a retry (retry_count > 0) while the first attempt still runs.
        const expired = await db.pool.query(`select 1 from audit_chain_boss.job where singleton_key = $1 and retry_count > 0`, [org]);
        return (expired.rowCount ?? 0) > 0;
      }, 30_000);
      await waitFor('a later attempt for the same chain to run and finish while the first still waits', async () => {
        const done = await db.pool.query(`select 1 from audit_chain_boss.job where singleton_key = $1 and state = 'completed'`, [org]);
        return (done.rowCount ?? 0) > 0;
      }, 30_000);
      const stillBlocked = await db.pool.query(
        `select 1 from pg_stat_activity where datname = current_database() and application_name like 'audit-chain worker%' and wait_event_type = 'Lock'`,
      );
      expect(stillBlocked.rowCount).toBeGreaterThan(0);
      await blocker.query('commit');
      await waitFor('all rows sealed', async () => (await pendingCount(db.pool)) === 0, 20_000);
      expect((await checkAllChains(db.pool)).problems).toEqual([]);
      expect(slow.stats.sealedRows + other.stats.sealedRows).toBeGreaterThanOrEqual(20);
    } finally {
      await blocker.query('rollback').catch(() => {});
      await blocker.end();
    }
  });

  describe('started while the database is unreachable', () => {
    /** A TCP relay to the test database on a port of its own, which can come up after the worker started. */
    async function relay(): Promise<{ url: string; listen(): Promise<void>; close(): Promise<void> }> {
      const port = await freePort();
      const target = new URL(db.url);
      const sockets = new Set<Socket>();
      let server: Server | null = null;
      const url = new URL(db.url);
      url.port = String(port);
      url.hostname = '127.0.0.1';
      return {
        url: url.toString(),
        listen: () =>
          new Promise<void>((resolve) => {
            server = createServer((incoming) => {
              const outgoing = createConnection(Number(target.port || 5432), target.hostname);
              sockets.add(incoming).add(outgoing);
              incoming.pipe(outgoing).pipe(incoming);
              incoming.on('error', () => outgoing.destroy());
              outgoing.on('error', () => incoming.destroy());
            });
            server.listen(port, '127.0.0.1', resolve);
          }),
        close: async () => {
          for (const socket of sockets) socket.destroy();
          await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
        },
      };
    }

    test('it waits for the database instead of exiting, then seals', async () => {
      const database = await relay();
      try {
        const starting = worker({ databaseUrl: database.url, startRetry: { initialDelayMs: 50, maxDelayMs: 200 } });
        let settled = false;
        void starting.then(() => (settled = true), () => (settled = true));
        // Several refused attempts; the start neither resolves nor rejects meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 800));
        expect(settled).toBe(false);
        await database.listen();
        await starting;
        const org = newOrgId();
        await insertRows(db.pool, org, 12);
        await waitFor('rows sealed by the late-started worker', async () => (await pendingCount(db.pool)) === 0, 15_000);
        expect((await checkAllChains(db.pool)).problems).toEqual([]);
        await Promise.all(running.splice(0).map((started) => started.stop()));
      } finally {
        await database.close();
      }
    });

    test('told to stop while it waits, it stops with StoppedBeforeStartError', async () => {
      const database = await relay();
      const stop = new AbortController();
      const starting = startWorker({
        databaseUrl: database.url,
        config: { sealing: { pollMs: 50, batchSize: 200, concurrency: 2 } },
        logger,
        signal: stop.signal,
        startRetry: { initialDelayMs: 50, maxDelayMs: 200 },
      });
      setTimeout(() => stop.abort(), 300);
      await expect(starting).rejects.toBeInstanceOf(StoppedBeforeStartError);
    });

    test('an error that retrying cannot cure still fails the start at once', async () => {
      const url = new URL(db.url);
      url.username = 'no_such_role_for_the_worker';
      await expect(worker({ databaseUrl: url.toString(), startRetry: { initialDelayMs: 50, maxDelayMs: 200 } })).rejects.toThrow(/no_such_role_for_the_worker/);
    });
  });
});
