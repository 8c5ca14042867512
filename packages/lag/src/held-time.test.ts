// The held time counts only while rows wait behind the horizon: not the quiet
// time before the first waiting row, and nothing at all when only rolled-back
// values sit above the horizon. Time is injected by moving the stored horizon
// time back (an hour of quiet) rather than by waiting.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { connect, createTestDatabase } from '../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../test/support/audit-rows.ts';
import { heldSeconds } from './horizon.ts';
import type { HorizonHolder } from './types.ts';
import { getLagOverview } from './views.ts';

const db = await createTestDatabase();
const seal = () => sealOnce(db.pool, { batchSize: 100, waitMs: 300, pollMs: 20 });
/** The horizon last moved an hour ago: a quiet hour, without waiting one. */
const quietHour = () => db.pool.query(`update audit_chain_progress set horizon_at = now() - interval '1 hour' where id = 1`);

test('after a quiet hour, the held time is the age of the transaction holding rows back, not the hour', async () => {
  const [orgA, orgB] = [newOrgId(), newOrgId()];
  await insertRows(db.pool, orgA, 2);
  await seal();
  await quietHour();
  const idle = await getLagOverview(db.pool, { limit: 10 });
  expect(idle.horizon).toMatchObject({ state: 'caught_up', held_seconds: 0 });

  const holder = await connect(db.url, 'held-time-holder');
  try {
    await holder.query('begin');
    await insertRows(holder, orgB, 1);
    await insertRows(db.pool, orgA, 3);
    const held = await getLagOverview(db.pool, { limit: 10 });
    expect(held.horizon.state).toBe('open_writers');
    const [only] = held.horizon.holders;
    expect(only?.application_name).toBe('held-time-holder');
    // Same snapshot, same now(): exactly the holder's age, far below the hour.
    expect(held.horizon.held_seconds).toBe(only!.xact_age_seconds);
    expect(held.horizon.held_seconds).toBeLessThan(60);
    // The committed rows behind it are listed in their chain, on top.
    expect(held.chains[0]).toMatchObject({ org_id: orgA, pending_rows: 3, held_rows: 3 });
    expect(held.totals).toMatchObject({ held_rows: 3, pending_unattributed: 1, pending_rows: 4 });
  } finally {
    await holder.query('rollback');
    await holder.end();
  }
  await seal();
});

test('a rollback leaves nothing waiting: held 0 though the horizon is behind; a committed row then waits from its own start', async () => {
  const org = newOrgId();
  await insertRows(db.pool, org, 1);
  await seal();
  await quietHour();

  const writer = await connect(db.url, 'held-time-rollback');
  try {
    await writer.query('begin');
    await insertRows(writer, org, 2);
    await writer.query('rollback');
  } finally {
    await writer.end();
  }
  const rolledBack = await getLagOverview(db.pool, { limit: 10 });
  // No worker runs: the horizon stays behind the two rolled-back values.
  expect(rolledBack.horizon).toMatchObject({ lag_seq: '2', state: 'no_worker', held_seconds: 0, holders: [] });
  expect(rolledBack.totals).toMatchObject({ pending_rows: 2, held_rows: 0, pending_unattributed: 2, chains_with_pending: 0 });

  const [late] = await insertRows(db.pool, org, 1);
  const waiting = await getLagOverview(db.pool, { limit: 10 });
  const chain = waiting.chains.find((c) => c.org_id === org)!;
  expect(chain).toMatchObject({ pending_rows: 1, held_rows: 1, oldest_pending: { chain_seq: late!.toString() } });
  // Waiting since that row's transaction began, not since the horizon's last move an hour ago.
  expect(waiting.horizon.held_seconds).toBe(chain.oldest_pending!.age_seconds);
  expect(waiting.horizon.held_seconds).toBeLessThan(60);
  await seal();
  expect((await getLagOverview(db.pool, { limit: 10 })).horizon).toMatchObject({ state: 'caught_up', held_seconds: 0 });
});

const holderAged = (age: number): HorizonHolder => ({
  pid: 1,
  application_name: null,
  user_name: null,
  state: null,
  xact_start: null,
  xact_age_seconds: age,
  state_change: null,
  state_age_seconds: null,
  wait_event: null,
  query: null,
});

test('heldSeconds: never above the horizon age or the oldest wait, zero exactly when nothing waits', () => {
  const age = fc.double({ min: 0, max: 1e6, noNaN: true });
  fc.assert(
    fc.property(fc.option(age, { nil: null }), fc.array(age, { maxLength: 4 }), fc.option(age, { nil: undefined }), (horizonAge, holders, firstAbove) => {
      const held = heldSeconds(horizonAge, holders.map(holderAged), firstAbove);
      const starts = [...holders, ...(firstAbove === undefined ? [] : [firstAbove])];
      if (starts.length === 0) return held === 0;
      const oldest = Math.max(...starts);
      const want = Math.round(Math.min(horizonAge ?? oldest, oldest) * 1000) / 1000;
      return held === want && held >= 0;
    }),
  );
  expect(heldSeconds(3600, [holderAged(16)], 4)).toBe(16);
  expect(heldSeconds(10, [holderAged(77)], undefined)).toBe(10);
  expect(heldSeconds(3600, [], undefined)).toBe(0);
});
