// audit-chain partition convert / create. Converting is done in steps so that
// no step blocks writers for longer than a moment:
//   1. CREATE UNIQUE INDEX CONCURRENTLY on (id, recorded_at): the future primary
//      key (a key of a partitioned table must contain the partition key);
//   2. a CHECK (recorded_at < boundary), added NOT VALID and then validated (a
//      scan that does not block inserts): it proves the existing rows fit the
//      first partition, so attaching it needs no scan;
//   3. audit_chain_partition_convert() in one short transaction under an
//      exclusive lock: renames, attaches, moves grants, views and triggers, and
//      creates the months ahead (drizzle/0018_partitioning.sql);
//   4. claims the links of the rows sealed before, in batches, so the no-fork
//      guarantee covers the old rows too (and reports a fork if one slipped in).
import type pg from 'pg';
import { sqlState } from '@audit-chain/db';
import { LifecycleError } from '../errors.ts';
import { conversionBoundary, isPartitioned, listPartitions, monthsFrom, type PartitionInfo } from './partitions.ts';

export interface ConvertOptions {
  monthsAhead?: number;
  dryRun?: boolean;
  now?: Date;
  lockTimeoutMs?: number;
  /** Attempts at the exclusive lock before giving up. */
  lockAttempts?: number;
  claimBatch?: number;
  onMessage?: (line: string) => void;
}

export interface ConvertResult {
  converted: boolean;
  boundary: Date;
  partitions: PartitionInfo[];
  claimedLinks: number;
  /** Links of the first partition that another row already claims: forks (expected: none). */
  forks: { orgId: string | null; prevChecksum: string; chainSeq: string; claimedBy: string }[];
}

export async function convertToPartitioned(pool: pg.Pool, options: ConvertOptions = {}): Promise<ConvertResult> {
  const say = options.onMessage ?? (() => {});
  const boundary = conversionBoundary(options.now ?? new Date());
  const monthsAhead = options.monthsAhead ?? 3;
  const result: ConvertResult = { converted: false, boundary, partitions: [], claimedLinks: 0, forks: [] };
  if (await isPartitioned(pool)) {
    result.partitions = await listPartitions(pool);
    say('audit_logs is already partitioned');
    return result;
  }
  if (options.dryRun) {
    say(`would convert audit_logs into monthly partitions of recorded_at: the existing rows become audit_logs_p_initial (up to ${boundary.toISOString()}), with ${monthsAhead + 1} months from there and a DEFAULT partition`);
    return result;
  }
  say('building the unique index (id, recorded_at) concurrently');
  const index = await pool.query<{ valid: boolean }>(
    "select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = 'audit_logs_id_recorded_at_key' and i.indrelid = 'audit_logs'::regclass",
  );
  // A concurrent build that failed leaves an invalid index behind: build it again.
  if (index.rows[0] && !index.rows[0].valid) await pool.query('drop index concurrently audit_logs_id_recorded_at_key');
  await pool.query('create unique index concurrently if not exists audit_logs_id_recorded_at_key on audit_logs (id, recorded_at)');

  say(`checking that every row is recorded before ${boundary.toISOString()} (CHECK, validated without blocking inserts)`);
  await pool.query('alter table audit_logs drop constraint if exists audit_logs_partition_bound');
  await pool.query(`alter table audit_logs add constraint audit_logs_partition_bound check (recorded_at < '${boundary.toISOString()}'::timestamptz) not valid`);
  await pool.query('alter table audit_logs validate constraint audit_logs_partition_bound');

  const attempts = options.lockAttempts ?? 5;
  for (let attempt = 1; ; attempt += 1) {
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`set local lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs ?? 3000))}`);
      await client.query('select audit_chain_partition_convert($1::timestamptz, $2::int)', [boundary.toISOString(), monthsAhead]);
      await client.query('commit');
      break;
    } catch (error) {
      await client.query('rollback').catch(() => {});
      if (sqlState(error) !== '55P03' || attempt >= attempts) throw error;
      say(`could not take the lock on audit_logs within the timeout (attempt ${attempt} of ${attempts}): a long transaction is using it; trying again`);
    } finally {
      client.release();
    }
  }
  result.converted = true;
  say('converted; claiming the links of the rows sealed before');
  await claimInitialLinks(pool, options.claimBatch ?? 50_000, result);
  result.partitions = await listPartitions(pool);
  return result;
}

async function claimInitialLinks(pool: pg.Pool, batch: number, result: ConvertResult): Promise<void> {
  const range = (await pool.query<{ low: string | null; high: string | null }>('select min(chain_seq)::text as low, max(chain_seq)::text as high from audit_logs_p_initial')).rows[0]!;
  if (range.low === null) return;
  for (let from = BigInt(range.low); from <= BigInt(range.high!); from += BigInt(batch)) {
    const to = from + BigInt(batch) - 1n;
    const claimed = await pool.query(
      `insert into audit_chain_link_claims (org_id, prev_checksum, chain_seq)
       select org_id, prev_checksum, chain_seq from audit_logs_p_initial
        where prev_checksum is not null and chain_seq between $1 and $2
       on conflict do nothing`,
      [from.toString(), to.toString()],
    );
    result.claimedLinks += claimed.rowCount ?? 0;
  }
  const forks = await pool.query<{ org_id: string | null; prev_checksum: string; chain_seq: string; claimed_by: string }>(
    `select p.org_id::text, p.prev_checksum, p.chain_seq::text, c.chain_seq::text as claimed_by
       from audit_logs_p_initial p join audit_chain_link_claims c
         on c.org_id is not distinct from p.org_id and c.prev_checksum = p.prev_checksum
      where c.chain_seq <> p.chain_seq
      limit 100`,
  );
  result.forks = forks.rows.map((row) => ({ orgId: row.org_id, prevChecksum: row.prev_checksum, chainSeq: row.chain_seq, claimedBy: row.claimed_by }));
}

/**
 * Creates the partitions of the current month (or `from`'s) and `monthsAhead`
 * after it that no partition covers yet (the first partition of a converted
 * table covers everything up to the conversion's boundary); returns the names of
 * the partitions that cover those months.
 */
export async function createPartitions(pool: pg.Pool, options: { monthsAhead: number; from?: Date }): Promise<string[]> {
  if (!(await isPartitioned(pool))) throw new LifecycleError('audit_logs is not partitioned: run `audit-chain partition convert` first');
  const existing = (await listPartitions(pool)).filter((partition) => !partition.isDefault);
  const names: string[] = [];
  for (const month of monthsFrom(options.from ?? new Date(), options.monthsAhead + 1)) {
    const start = new Date(`${month}T00:00:00Z`);
    const covering = existing.find((partition) => (partition.from === null || partition.from <= start) && partition.to !== null && start < partition.to);
    if (covering) {
      if (!names.includes(covering.name)) names.push(covering.name);
      continue;
    }
    names.push((await pool.query<{ name: string }>('select audit_chain_partition_create($1::date) as name', [month])).rows[0]!.name);
  }
  return names;
}
