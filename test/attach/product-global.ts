// Fixture product 2, modelled on an app whose hashing lives in application
// code: table "AuditLog" with text cuid2 ids and camelCase columns (35 of
// them, jsonb snapshots included), one global chain: the app takes an advisory
// lock, reads the latest "logHash", hashes in JavaScript and writes
// "previousLogHash", "logHash" and "chainSeed" itself. The lock is taken in its
// own statement (autocommit), so it is released before the insert: the chain
// forks under concurrent writers, as such code does.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { createId } from '@paralleldrive/cuid2';
import { drizzle } from 'drizzle-orm/node-postgres';
import { desc } from 'drizzle-orm';
import { boolean, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

const EXTRA = Array.from({ length: 16 }, (_, n) => `attr${n + 1}`);

export const auditLog = pgTable('AuditLog', {
  id: text('id').primaryKey().$defaultFn(() => createId()),
  tenantSlug: text('tenantSlug').notNull(),
  actorId: text('actorId').notNull(),
  actorName: text('actorName'),
  actorEmail: text('actorEmail'),
  action: text('action').notNull(),
  entityType: text('entityType').notNull(),
  entityId: text('entityId').notNull(),
  before: jsonb('beforeSnapshot'),
  after: jsonb('afterSnapshot'),
  requestId: text('requestId'),
  ipAddress: text('ipAddress'),
  userAgent: text('userAgent'),
  success: boolean('success').notNull().default(true),
  durationMs: integer('durationMs'),
  createdAt: timestamp('createdAt', { withTimezone: false, mode: 'string', precision: 3 }).notNull().defaultNow(),
  previousLogHash: text('previousLogHash'),
  logHash: text('logHash'),
  chainSeed: text('chainSeed'),
  ...Object.fromEntries(EXTRA.map((name) => [name, text(name)])),
});

export const PRODUCT2_COLUMNS = ['id', 'tenantSlug', 'actorId', 'actorName', 'actorEmail', 'action', 'entityType', 'entityId', 'beforeSnapshot', 'afterSnapshot', 'requestId', 'ipAddress', 'userAgent', 'success', 'durationMs', 'createdAt', 'previousLogHash', 'logHash', 'chainSeed', ...EXTRA];

export function product2Ddl(appRole: string): string {
  return `
    create table public."AuditLog" (
      "id" text primary key,
      "tenantSlug" text not null, "actorId" text not null, "actorName" text, "actorEmail" text,
      "action" text not null, "entityType" text not null, "entityId" text not null,
      "beforeSnapshot" jsonb, "afterSnapshot" jsonb, "requestId" text, "ipAddress" text, "userAgent" text,
      "success" boolean not null default true, "durationMs" integer,
      "createdAt" timestamp(3) without time zone not null default current_timestamp,
      "previousLogHash" text, "logHash" text, "chainSeed" text,
      ${EXTRA.map((name) => `"${name}" text`).join(', ')}
    );
    create index "AuditLog_createdAt_idx" on public."AuditLog" ("createdAt");
    grant select, insert on public."AuditLog" to "${appRole}";`;
}

const CHAIN_SEED = 'seed-2024-01';
const LOCK_KEY = 424242;

/** The app's write path: advisory lock, read the latest hash, hash in JavaScript, insert with drizzle. */
export async function product2Insert(client: pg.Client, n: number): Promise<void> {
  const db = drizzle(client);
  await client.query('select pg_advisory_xact_lock($1)', [LOCK_KEY]);
  const latest = await client.query<{ logHash: string | null }>('select "logHash" from "AuditLog" order by "createdAt" desc, "id" desc limit 1');
  const previousLogHash = latest.rows[0]?.logHash ?? CHAIN_SEED;
  const row = {
    id: createId(),
    tenantSlug: `tenant-${n % 4}`,
    actorId: `user_${n % 9}`,
    actorName: `User ${n % 9}`,
    actorEmail: `user${n % 9}@example.com`,
    action: n % 2 ? 'invoice.update' : 'invoice.create',
    entityType: 'invoice',
    entityId: `inv_${n}`,
    before: n % 2 ? { total: n, lines: [{ sku: 'a', qty: 1 }] } : null,
    after: { total: n + 1, lines: [{ sku: 'a', qty: 2 }], note: 'ünïcödé' },
    requestId: `req_${n}`,
    ipAddress: n % 4 === 0 ? 'unknown' : `10.0.${n % 200}.${n % 250}`,
    userAgent: 'app/2.3',
    durationMs: n % 1000,
    attr1: `a${n}`,
  };
  const logHash = createHash('sha256').update(previousLogHash + JSON.stringify(row)).digest('hex');
  await db.insert(auditLog).values({ ...row, previousLogHash, logHash, chainSeed: CHAIN_SEED });
}

export async function product2List(client: pg.Client): Promise<{ id: string }[]> {
  const db = drizzle(client);
  return db.select().from(auditLog).orderBy(desc(auditLog.createdAt)).limit(50);
}
