import { expect, test } from 'vitest';
import { createTestDatabase } from '../support/database.ts';

const db = await createTestDatabase();

test('smoke', async () => {
  const r = await db.pool.query("insert into audit_logs (org_id, actor_type, action) values (gen_random_uuid(), 'user', 'x') returning chain_seq");
  expect(Number(r.rows[0].chain_seq)).toBeGreaterThan(0);
});
