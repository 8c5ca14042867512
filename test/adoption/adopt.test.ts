// Adoption (audit-chain adopt) against a real PostgreSQL, on a legacy table
// produced by running the old insert-time hashing design under concurrent
// writers until its chain forked. Adoption runs while the legacy application
// keeps inserting (through the legacy table, then through the compatibility
// view), is interrupted twice (an abort between batches, then its backends
// terminated mid-batch) and rerun; at the end every legacy row is an audit row
// exactly once, historical rows are chained in (created_at, id) order, the old
// checksums are kept, live inserts never failed and never waited long, and
// verification reports zero breaks.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPool } from '@audit-chain/db';
import { adoptTable, LifecycleError, type AdoptProgress, type AdoptReport } from '@audit-chain/lifecycle';
import { verifyChains } from '@audit-chain/verification';
import { connect, createTestDatabase } from '../support/database.ts';
import { waitFor } from '../support/audit-rows.ts';
import { quoteIdent } from '../db/helpers.ts';
import { createLegacyTable, forkStats, hammerUntilForked, LEGACY_TABLE, legacyInsert, legacyValues, newOrgs, type ForkStats } from './legacy-fixture.ts';

const db = await createTestDatabase();
const appRole = `legacy_app_${randomBytes(4).toString('hex')}`;
const orgs = newOrgs(4);
const MAP = ["actor_type='user'"];

let forked: ForkStats;

afterAll(async () => {
  await db.pool.query(`drop owned by ${quoteIdent(appRole)}`).catch(() => {});
  await db.pool.query(`drop role if exists ${quoteIdent(appRole)}`).catch(() => {});
});

beforeAll(async () => {
  await createLegacyTable(db.pool);
  await db.pool.query(`create role ${quoteIdent(appRole)} nologin`);
  await db.pool.query(`grant select, insert on ${LEGACY_TABLE} to ${quoteIdent(appRole)}`);
  forked = await hammerUntilForked(db.url, { connections: 16, rowsPerConnection: 60, orgs });
  // A few rows of no organization (the system chain) and rows sharing a created_at (the id breaks the tie).
  await db.pool.query(`insert into ${LEGACY_TABLE} (org_id, action) select null, 'system.boot' from generate_series(1, 5)`);
  await db.pool.query(`insert into ${LEGACY_TABLE} (org_id, created_at, action) select $1, '2020-01-01T00:00:00Z', 'import' from generate_series(1, 20)`, [orgs[1]]);
}, 120_000);

test('the fixture really forked under the old design', () => {
  expect(forked.forkedPredecessors).toBeGreaterThanOrEqual(1);
  expect(forked.widest).toBeGreaterThanOrEqual(2);
});

test('a plan that would lose data or lacks a required column is refused before anything changes', async () => {
  await expect(adoptTable(db.pool, { table: LEGACY_TABLE })).rejects.toThrow(/actor_type: no legacy column/);
  await expect(adoptTable(db.pool, { table: LEGACY_TABLE, map: [...MAP, 'details=nonexistent'] })).rejects.toThrow(LifecycleError);
  expect((await db.pool.query('select count(*)::int as n from audit_chain_adoptions')).rows[0].n).toBe(0);
});

test('a dry run reports the forks, the trigger it will drop and the mapping, and changes nothing', async () => {
  const report = await adoptTable(db.pool, { table: LEGACY_TABLE, map: MAP, dryRun: true });
  expect(report.status).toBe('planned');
  expect(report.forks!.predecessors).toBe((await forkStats(db.pool)).forkedPredecessors);
  expect(report.droppedTriggers.map((trigger) => trigger.name)).toEqual([`${LEGACY_TABLE}_chain`]);
  expect(report.plan.columns).toMatchObject({
    occurred_at: { column: 'created_at' },
    recorded_at: { column: 'created_at' },
    actor_id: { column: 'user_id' },
    actor_email: { column: 'user_email' },
    details: { column: 'metadata' },
    ip_address: { column: 'ip' },
    actor_type: { literal: 'user' },
  });
  expect(report.plan.legacyChecksumColumn).toBe('checksum');
  expect((await db.pool.query("select count(*)::int as n from pg_trigger where tgname = 'audit_log_chain'")).rows[0].n).toBe(1);
  expect((await db.pool.query('select count(*)::int as n from audit_logs')).rows[0].n).toBe(0);
});

describe('adoption under live inserts, interrupted twice and resumed', () => {
  const latencies: number[] = [];
  const errors: unknown[] = [];
  let inserted = 0;
  let stop = false;
  let writers: Promise<void>[] = [];
  let final: AdoptReport;
  let historical: { id: string; created_at: string }[];
  let legacyBefore: number;

  beforeAll(async () => {
    legacyBefore = (await db.pool.query<{ n: number }>(`select count(*)::int as n from ${LEGACY_TABLE}`)).rows[0]!.n;
    historical = (await db.pool.query(`select id::text, created_at::text from ${LEGACY_TABLE} order by created_at, id`)).rows;
    // The legacy application keeps writing, as its own role, through the whole adoption.
    const clients = await Promise.all(Array.from({ length: 6 }, () => connect(db.url, 'legacy app live')));
    writers = clients.map(async (client, c) => {
      await client.query(`set role ${quoteIdent(appRole)}`);
      let n = 0;
      try {
        while (!stop) {
          const started = performance.now();
          try {
            await client.query(legacyInsert(), legacyValues(orgs[(c + n) % orgs.length]!, 900_000 + c * 10_000 + n));
            inserted += 1;
          } catch (error) {
            // One failure is enough to fail the test; stop this writer rather than pile errors up.
            errors.push(error);
            break;
          }
          latencies.push(performance.now() - started);
          n += 1;
        }
      } finally {
        await client.end();
      }
    });
    await waitFor('live inserts to flow', async () => inserted >= 30);

    const adoptPool = createPool(db.url, { applicationName: 'audit-chain adopt (test)', max: 3 });
    const options = { table: LEGACY_TABLE, map: MAP, batchSize: 150, lockTimeoutMs: 5000 };
    try {
      // 1. Interrupted between batches (as by Ctrl-C) after a few historical batches.
      const abort = new AbortController();
      const onProgress = (progress: AdoptProgress) => {
        if (progress.phase === 'historical' && progress.done >= 300) abort.abort(new Error('interrupted'));
      };
      await expect(adoptTable(adoptPool, { ...options, signal: abort.signal, onProgress })).rejects.toThrow('interrupted');
      const first = (await db.pool.query('select status, copied_rows::int from audit_chain_adoptions')).rows[0];
      expect(first.status).toBe('copying');
      expect(first.copied_rows).toBeGreaterThanOrEqual(300);

      // 2. Its backend terminated in the middle of a batch (as by a crash). To be
      // sure the termination lands inside a batch transaction, the killer holds a
      // row lock on the adoption's progress row: the next batch inserts its rows,
      // then waits to move its cursor; that backend is terminated while it waits.
      let killed = false;
      let killing = false;
      const killer = async (progress: AdoptProgress) => {
        if (killing || progress.phase !== 'historical' || progress.done < 600) return;
        killing = true;
        const blocker = await connect(db.url, 'adoption blocker');
        try {
          await blocker.query('begin');
          await blocker.query('select 1 from audit_chain_adoptions for update');
          await waitFor('a batch waiting on its cursor update', async () => {
            const result = await db.pool.query<{ ok: boolean }>(
              `select pg_terminate_backend(pid) as ok from pg_stat_activity
                where application_name = 'audit-chain adopt (test)' and datname = current_database() and wait_event_type = 'Lock'`,
            );
            killed = result.rows.some((row) => row.ok);
            return killed;
          }, 20_000, 5);
        } finally {
          await blocker.query('rollback').catch(() => {});
          await blocker.end();
        }
      };
      // The adoption fails as soon as its backend dies, which can be before the
      // killer's own query returns: wait for the killer before reading `killed`.
      const killers: Promise<void>[] = [];
      await expect(adoptTable(adoptPool, { ...options, onProgress: (p) => void killers.push(killer(p)) })).rejects.toThrow();
      await Promise.all(killers);
      expect(killed).toBe(true);
    } finally {
      await adoptPool.end();
    }
    // 3. Run again, to the end.
    final = await adoptTable(db.pool, { ...options, sealTimeoutMs: 30_000 });
    // Keep writing through the view for a moment after the switch, then stop.
    const afterSwitch = inserted;
    await waitFor('inserts through the view', async () => inserted >= afterSwitch + 30);
    stop = true;
    await Promise.all(writers);
  }, 120_000);

  test('the adoption finished after resuming, with the legacy table kept as an archive and a view in its place', async () => {
    expect(final.resumed).toBe(true);
    expect(final.status).toBe('done');
    expect(final.archiveTable).toBe(`${LEGACY_TABLE}_adopted`);
    const kinds = await db.pool.query<{ relname: string; relkind: string }>("select relname, relkind::text from pg_class where relname in ('audit_log', 'audit_log_adopted') order by 1");
    expect(kinds.rows).toEqual([{ relname: 'audit_log', relkind: 'v' }, { relname: 'audit_log_adopted', relkind: 'r' }]);
    const triggers = await db.pool.query("select tgname from pg_trigger where tgrelid = 'audit_log_adopted'::regclass and not tgisinternal");
    expect(triggers.rows).toEqual([]);
    const recorded = (await db.pool.query('select dropped_triggers from audit_chain_adoptions')).rows[0].dropped_triggers;
    expect(recorded).toEqual([{ name: 'audit_log_chain', definition: expect.stringContaining('BEFORE INSERT ON public.audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain()') }]);
  });

  test('live inserts never failed and never waited long', () => {
    expect(errors).toEqual([]);
    latencies.sort((a, b) => a - b);
    const max = latencies.at(-1)!;
    console.info(`live inserts: ${latencies.length}, median ${latencies[latencies.length >> 1]!.toFixed(1)} ms, p99 ${latencies[Math.floor(latencies.length * 0.99)]!.toFixed(1)} ms, max ${max.toFixed(1)} ms`);
    // Bounded by the two short locks (prepare and switch) on a busy 2-core machine; typically well under a second.
    expect(max).toBeLessThan(2000);
    expect(latencies.length).toBeGreaterThan(100);
  });

  test('no row is lost and none is copied twice: legacy rows = adopted rows, and every live insert is an audit row', async () => {
    const counts = (await db.pool.query(
      `select (select count(*) from audit_log_adopted)::int as legacy,
              (select count(*) from audit_chain_legacy_links)::int as links,
              (select count(distinct legacy_id) from audit_chain_legacy_links)::int as distinct_links,
              (select count(*) from audit_logs)::int as audit_rows`,
    )).rows[0];
    expect(counts.legacy).toBe(counts.links);
    expect(counts.distinct_links).toBe(counts.links);
    expect(counts.legacy).toBeGreaterThan(legacyBefore);
    expect(final.legacyRows).toBe(final.adoptedRows);
    // Some rows were written to the legacy table while it was being adopted, and were captured and copied.
    expect(final.capturedRows).toBeGreaterThan(0);
    // Every row: the legacy rows, plus the inserts that went through the view after the switch.
    expect(counts.audit_rows).toBe(legacyBefore + inserted);
  });

  test('adopted rows keep their id and content; the old checksums are kept beside them', async () => {
    const mismatches = await db.pool.query(
      `select l.id from audit_log_adopted l
         join audit_chain_legacy_links k on k.legacy_id = l.id::text
         join audit_logs a on a.id = k.row_id and a.chain_seq = k.chain_seq
        where a.id <> l.id or a.org_id is distinct from l.org_id or a.occurred_at <> l.created_at or a.recorded_at <> l.created_at
           or a.actor_type <> 'user' or a.actor_id is distinct from l.user_id or a.actor_email is distinct from l.user_email
           or a.action <> l.action or a.resource_id is distinct from l.resource_id or a.details is distinct from l.metadata
           or a.ip_address is distinct from l.ip or a.user_agent is distinct from l.user_agent
           or k.legacy_prev_checksum is distinct from l.prev_checksum or k.legacy_checksum is distinct from l.checksum`,
    );
    expect(mismatches.rows).toEqual([]);
    // Rows written before adoption dropped the legacy trigger carry old checksums (the live ones before it too).
    const old = (await db.pool.query(
      `select (select count(*) from audit_chain_legacy_links where legacy_checksum is not null)::int as kept,
              (select count(*) from audit_log_adopted where checksum is not null)::int as legacy`,
    )).rows[0];
    expect(old.kept).toBe(old.legacy);
    expect(old.kept).toBeGreaterThanOrEqual(legacyBefore);
  });

  test('historical rows are chained in (created_at, id) order', async () => {
    const adopted = await db.pool.query<{ id: string }>(
      `select a.id::text from audit_logs a where a.id = any($1::uuid[]) order by a.chain_seq`,
      [historical.map((row) => row.id)],
    );
    expect(adopted.rows.map((row) => row.id)).toEqual(historical.map((row) => row.id));
  });

  test('verification reports zero breaks on the adopted, formerly forked chains', async () => {
    const report = await verifyChains(db.pool, { keyring: null, checkpointSources: { directories: [], table: false } });
    expect(report.breaks).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.totals.sealed).toBe(legacyBefore + inserted - report.totals.pending);
    const links = await db.pool.query("select count(*)::int as n from (select org_id, prev_checksum from audit_logs where prev_checksum is not null group by 1, 2 having count(*) > 1) f");
    expect(links.rows[0].n).toBe(0);
    expect((await forkStats(db.pool, 'audit_log_adopted')).forkedPredecessors).toBeGreaterThanOrEqual(forked.forkedPredecessors);
  });

  test('a rerun of a finished adoption changes nothing', async () => {
    // Named another way (schema-qualified), it is the same adoption.
    const again = await adoptTable(db.pool, { table: `public.${LEGACY_TABLE}`, map: MAP });
    expect(again.status).toBe('done');
    expect(again.adoptedRows).toBe(final.adoptedRows);
  });

  test('the application role inserts and reads through the view, and still cannot touch the chain', async () => {
    const client = await connect(db.url);
    try {
      await client.query(`set role ${quoteIdent(appRole)}`);
      const row = await client.query(`${legacyInsert()} returning id, created_at`, legacyValues(orgs[0]!, 1));
      const read = await client.query('select action from audit_log where id = $1', [row.rows[0].id]);
      expect(read.rows).toEqual([{ action: 'session.submit' }]);
      await expect(client.query('update audit_chain.audit_logs set checksum = null')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await client.end();
    }
  });
});
