// Writing audit rows in tests the way a product does: plain INSERTs.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

export function newOrgId(): string {
  return randomUUID();
}

/** Inserts `count` rows for `orgId` in one multi-row INSERT; returns their chain_seq values. */
export async function insertRows(db: Queryable, orgId: string | null, count = 1, action = 'test.event'): Promise<bigint[]> {
  const result = await db.query<{ chain_seq: string }>(
    `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, resource_type, resource_id, details, ip_address, user_agent)
     select $1::uuid, 'user', 'u-' || g, 'user' || g || '@example.com', $2, 'doc', 'd-' || g,
            jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')), ('10.0.0.' || (g % 250 + 1))::inet, 'test-agent'
       from generate_series(1, $3::int) g
     returning chain_seq::text`,
    [orgId, action, count],
  );
  return result.rows.map((row) => BigInt(row.chain_seq));
}

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Polls `condition` until it holds or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 20_000, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
