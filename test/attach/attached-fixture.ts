// Fixture product 1 (product-tenant.ts) set up for the lifecycle tests of
// attached tables: rows written at chosen times (created_at is the product's
// `timestamp without time zone`), attached with actor_id and ip_address as
// personal columns, and sealed.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, inject } from 'vitest';
import { withDatabaseName } from '@audit-chain/db';
import { attachTable } from '@audit-chain/lifecycle';
import { sealAttachedTables } from '@audit-chain/sealing';
import { productDdl } from './product-tenant.ts';

export const TABLE = 'public.audit_logs';

/** Creates the product's table and its app role; returns the role. */
export async function createProduct(pool: pg.Pool): Promise<string> {
  const app = `lc_app_${randomBytes(4).toString('hex')}`;
  await pool.query(`create role "${app}" nologin`);
  await pool.query(productDdl(app));
  return app;
}

/**
 * A pool on the product's own URL (search_path "$user", public, as the product
 * has it: its trigger reads audit_logs unqualified); closed after the file.
 */
export function productPool(databaseName: string): pg.Pool {
  // Not createPool: that one puts audit_chain first on the search_path.
  const pool = new pg.Pool({ connectionString: withDatabaseName(inject('serverUrl'), databaseName), application_name: 'fixture product', max: 2 });
  afterAll(() => pool.end());
  return pool;
}

/** Writes one row per time, in order, for `orgId` (as the product's migrating owner may). */
export async function writeAt(product: pg.Pool, orgId: string, times: readonly string[], ip = '10.0.0.1'): Promise<void> {
  for (const [n, at] of times.entries()) {
    await product.query(
      `insert into public.audit_logs (org_id, actor_type, actor_id, action, resource, ip_address, metadata, created_at)
       values ($1, 'user', $2, 'doc.read', $3, $4, $5, $6::timestamp)`,
      [orgId, `user-${n}@example.com`, `doc-${n}`, ip, JSON.stringify({ n, at }), at],
    );
  }
}

export async function attachProduct(pool: pg.Pool): Promise<void> {
  await attachTable(pool, { table: TABLE, orgColumn: 'org_id', orderBy: ['created_at'], pii: ['actor_id', 'ip_address'], lockTimeoutMs: 2000 });
}

export async function sealProduct(pool: pg.Pool): Promise<void> {
  const results = await sealAttachedTables(pool, { batchSize: 1000, waitMs: 5000 });
  expect(results.map((result) => result.status)).toEqual(['sealed']);
}

/** chain_seq of the rows of one chain, in chain order. */
export async function seqsOf(pool: pg.Pool, orgId: string): Promise<string[]> {
  return (await pool.query<{ seq: string }>('select audit_chain_seq::text as seq from public.audit_logs where org_id = $1 order by audit_chain_seq', [orgId])).rows.map((row) => row.seq);
}
