// The partitions of audit_logs as the catalog has them, and the month arithmetic
// (UTC) the partitioning functions of drizzle/0018_partitioning.sql use.
import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface PartitionInfo {
  name: string;
  /** null for the DEFAULT partition. */
  from: Date | null;
  to: Date | null;
  isDefault: boolean;
  /** From the planner's statistics: an estimate, -1 when never analyzed. */
  estimatedRows: number;
}

export async function isPartitioned(db: Queryable): Promise<boolean> {
  const result = await db.query<{ relkind: string }>("select relkind::text from pg_class where oid = 'audit_logs'::regclass");
  return result.rows[0]?.relkind === 'p';
}

/** The partitions in order of their ranges (the initial MINVALUE one first, DEFAULT last). */
export async function listPartitions(db: Queryable): Promise<PartitionInfo[]> {
  // The bounds are read back as epoch seconds by the server that printed them,
  // so the session's TimeZone (which pg_get_expr writes them in) cannot matter.
  const result = await db.query<{ name: string; bound: string; from_epoch: string | null; to_epoch: string | null; rows: string }>(
    `select name, bound, rows,
            extract(epoch from (regexp_match(bound, $$FROM \\('([^']+)'\\)$$))[1]::timestamptz)::text as from_epoch,
            extract(epoch from (regexp_match(bound, $$TO \\('([^']+)'\\)$$))[1]::timestamptz)::text as to_epoch
       from (select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound, c.reltuples::bigint::text as rows
               from pg_inherits i join pg_class c on c.oid = i.inhrelid
              where i.inhparent = 'audit_logs'::regclass) p`,
  );
  const instant = (epoch: string | null) => (epoch === null ? null : new Date(Number(epoch) * 1000));
  const partitions = result.rows.map((row) => ({
    name: row.name,
    from: instant(row.from_epoch),
    to: instant(row.to_epoch),
    isDefault: row.bound === 'DEFAULT',
    estimatedRows: Number(row.rows),
  }));
  const key = (partition: PartitionInfo) => (partition.isDefault ? Number.POSITIVE_INFINITY : (partition.to?.getTime() ?? Number.POSITIVE_INFINITY));
  return partitions.sort((a, b) => key(a) - key(b));
}

/** The first instant of the month after `now` (UTC), or of the month after that when the next one starts within a day. */
export function conversionBoundary(now: Date): Date {
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  if (next.getTime() - now.getTime() < 86_400_000) return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 2, 1));
  return next;
}

/** `count` months from the month of `from` (UTC), as YYYY-MM-01 dates. */
export function monthsFrom(from: Date, count: number): string[] {
  return Array.from({ length: count }, (_, i) => new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + i, 1)).toISOString().slice(0, 10));
}
