// `audit-chain citus` on a database without Citus: distribute refuses with one
// line and changes nothing; status says what the database is. (On a Citus
// cluster: test/citus, npm run test:citus.)
import { expect, test } from 'vitest';
import { createTestDatabase } from '../../../test/support/database.ts';
import { runCli } from '../../../test/tamper/support.ts';

const db = await createTestDatabase();

test('citus distribute refuses on a plain PostgreSQL, citus status says so, and audit_logs is unchanged', async () => {
  const before = await db.pool.query<{ conname: string }>("select conname from pg_constraint where conrelid = 'audit_logs'::regclass order by conname");
  const distribute = await runCli(['citus', 'distribute'], { DATABASE_URL: db.url });
  expect(distribute.code).toBe(1);
  expect(distribute.stderr.trim().split('\n')).toEqual([
    'audit-chain: the citus extension is not installed in this database: CREATE EXTENSION citus on the coordinator and on every worker, then add the workers (citus_add_node)',
  ]);
  const status = await runCli(['citus', 'status'], { DATABASE_URL: db.url });
  expect(status.code).toBe(0);
  expect(status.stdout).toBe('not a Citus database (no citus extension)\n');
  const badShards = await runCli(['citus', 'distribute', '--shard-count', '0'], { DATABASE_URL: db.url });
  expect(badShards.code).not.toBe(0);
  expect(badShards.stderr).toMatch(/^audit-chain: .*--shard-count.*must be an integer from 1 to 64000/);
  const after = await db.pool.query<{ conname: string }>("select conname from pg_constraint where conrelid = 'audit_logs'::regclass order by conname");
  expect(after.rows).toEqual(before.rows);
});
