// Every lag view is read inside one read-only REPEATABLE READ transaction, so
// its figures come from one snapshot (a chain's sealed count and its discovery
// count cannot be read on either side of a seal) and its ages share one now().
import type pg from 'pg';

export type Queryable = Pick<pg.ClientBase, 'query'>;

/** An admin view must never hang on a lock or run away: it gives up after this. */
const STATEMENT_TIMEOUT_MS = 10_000;

export async function withSnapshot<T>(pool: pg.Pool, work: (db: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    // JIT: these are short queries over one row per chain; compiling them cost
    // more than running them (about 0.8 s per query at 100,000 chains).
    await client.query(`begin isolation level repeatable read read only; set local statement_timeout = ${STATEMENT_TIMEOUT_MS}; set local jit = off`);
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Runs `work` with planner settings changed for its statements only (SET LOCAL,
 * then RESET to the session's values). Inside a withSnapshot transaction.
 */
export async function withPlannerSettings<T>(db: Queryable, settings: Record<string, 'on' | 'off'>, work: () => Promise<T>): Promise<T> {
  // One round trip each way (a simple query may hold several statements): a view
  // makes a few of these, and round trips add up on a busy server.
  await db.query(Object.entries(settings).map(([name, value]) => `set local ${name} = ${value}`).join('; '));
  try {
    return await work();
  } finally {
    await db.query(Object.keys(settings).map((name) => `reset ${name}`).join('; '));
  }
}
