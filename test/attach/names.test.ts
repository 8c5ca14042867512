// Table and column names a product may really have: mixed case, spaces, a dot
// inside a name. `--table` takes each part as stored or double-quoted, and
// every later run (resume, "attached already", --refresh) finds the same table.
import { expect, test } from 'vitest';
import { attachTable } from '@audit-chain/lifecycle';
import { sealAttachedTables } from '@audit-chain/sealing';
import { verifyAttachedTables } from '@audit-chain/verification';
import { createTestDatabase } from '../support/database.ts';

const db = await createTestDatabase();

test('a table named "Audit Log" in schema "shop.eu", keyed by "Org Id": attached, sealed, verified, and found again by its quoted name', async () => {
  await db.pool.query(`create schema "shop.eu";
    create table "shop.eu"."Audit Log" (id bigint generated always as identity primary key, "Org Id" text not null, "What" text, at timestamptz not null default now());
    insert into "shop.eu"."Audit Log" ("Org Id", "What") values ('a b', 'x'), ('c', 'y'), ('a b', 'z');`);
  const report = await attachTable(db.pool, { table: '"shop.eu"."Audit Log"', orgColumn: 'Org Id', orderBy: ['id'], lockTimeoutMs: 2000 });
  expect(report.done).toBe(true);
  expect(report.lines[0]).toBe('table shop.eu.Audit Log: 3 rows, 2 chains by Org Id');
  await db.pool.query(`insert into "shop.eu"."Audit Log" ("Org Id", "What") values ('c', 'after')`);
  const sealed = await sealAttachedTables(db.pool, { batchSize: 100, waitMs: 5000 });
  expect(sealed.map((result) => result.status)).toEqual(['sealed']);
  const verified = await verifyAttachedTables(db.pool, {});
  expect(verified.breaks).toEqual([]);
  expect(verified.chains.map((chain) => [chain.chain, chain.rows, chain.sealed])).toEqual([
    ['shop.eu.Audit Log chain a b', 2, 2],
    ['shop.eu.Audit Log chain c', 2, 2],
  ]);
  // A second run finds the registered table by the same name (and by the table part quoted alone).
  await expect(attachTable(db.pool, { table: '"shop.eu"."Audit Log"', lockTimeoutMs: 2000 })).rejects.toThrow(/shop\.eu\.Audit Log is attached already/);
  // Unquoted, the schema's dot reads as a separator: that is three parts, refused with one line.
  await expect(attachTable(db.pool, { table: 'shop.eu.Audit Log', lockTimeoutMs: 2000 })).rejects.toThrow(/^--table: got "shop\.eu\.Audit Log", want a table name or schema\.table/);
});

test('a mixed-case table named as stored (no folding to lower case) is found again on the next run', async () => {
  await db.pool.query(`create table public."AuditLog" (id text primary key, "orgId" text, "createdAt" timestamp(3) not null default now());
    insert into public."AuditLog" (id, "orgId") values ('c1', 'o1'), ('c2', 'o2')`);
  await attachTable(db.pool, { table: 'public.AuditLog', orgColumn: 'orgId', orderBy: ['createdAt'], lockTimeoutMs: 2000 });
  await expect(attachTable(db.pool, { table: 'public.AuditLog', lockTimeoutMs: 2000 })).rejects.toThrow(/public\.AuditLog is attached already/);
  // A lower-case name is another table, which does not exist.
  await expect(attachTable(db.pool, { table: 'public.auditlog', lockTimeoutMs: 2000 })).rejects.toThrow(/no table public\.auditlog/);
});
