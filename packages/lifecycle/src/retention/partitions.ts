// Retention by whole partitions, when audit_logs is partitioned by month:
// rather than deleting an old month row by row, drop its partition, after a
// signed checkpoint at the end of every chain in it. A partition is dropped
// only when it ended before the limit and, for every chain with rows in it,
// the cut at its last row there is a proper one: below the chain's head, and
// every row of the chain up to it old enough (a row recorded late in the month
// can hold a chain_seq above rows of the next month: then the next month's
// rows up to it are deleted with it, if they are old enough, else the month
// waits for the row-by-row path). audit_chain_retain_partitions() checks it all
// again in the database before it detaches and drops.
import type pg from 'pg';
import { signCheckpoint, type SignedCheckpoint } from '@audit-chain/chain';
import { sqlState, withTransaction } from '@audit-chain/db';
import { isLifecycleRefusal, LifecycleError } from '../errors.ts';
import { actAs, quoteIdent } from '../roles.ts';
import { listPartitions } from '../partitioning/partitions.ts';
import { markCheckpointExported, readCutRow, recordCheckpoint } from './queries.ts';
import { assertSignedCheckpoint } from './signed-cut.ts';
import type { RetainOptions, RetentionSink } from './retain.ts';

export interface PartitionRetention {
  partition: string;
  chains: number;
  rows: number;
  /** Rows of the chains' cuts that lay in later partitions (deleted row by row). */
  stragglers: number;
  /** null when dropped; otherwise why the month is left to the row-by-row path. */
  skipped: string | null;
}

interface ChainEnd {
  org_id: string | null;
  last_seq: string;
  rows: number;
}

/** Drops the whole partitions that can go, oldest first; stops at the first that cannot. */
export async function retainPartitions(pool: pg.Pool, options: RetainOptions): Promise<PartitionRetention[]> {
  const done: PartitionRetention[] = [];
  const candidates = (await listPartitions(pool)).filter((partition) => !partition.isDefault && partition.to !== null && partition.to <= options.olderThan);
  for (const partition of candidates) {
    const ends = (await pool.query<ChainEnd>(`select org_id::text, max(chain_seq)::text as last_seq, count(*)::int as rows from ${quoteIdent(partition.name)} group by org_id`)).rows;
    const outcome: PartitionRetention = { partition: partition.name, chains: ends.length, rows: ends.reduce((sum, end) => sum + end.rows, 0), stragglers: 0, skipped: null };
    done.push(outcome);
    outcome.skipped = await whyNotDroppable(pool, ends, options.olderThan);
    if (outcome.skipped) break;
    if (options.dryRun) continue;
    const checkpoints: SignedCheckpoint[] = [];
    for (const end of ends) {
      const row = (await pool.query<{ checksum: string | null; sealed_count: string }>(readCutRow(end.org_id, end.last_seq))).rows[0];
      if (!row?.checksum) throw new LifecycleError(`partition ${partition.name}: row chain_seq ${end.last_seq} of chain ${end.org_id ?? 'system'} has no checksum`);
      const signedAt = (options.now ?? (() => new Date()))().toISOString();
      checkpoints.push(await signCheckpoint({ org_id: end.org_id, chain_seq: end.last_seq, sealed_count: row.sealed_count, checksum: row.checksum, signed_at: signedAt }, options.signer!));
    }
    const ids = await recordAndExportAll(pool, checkpoints, options.sinks!);
    try {
      outcome.stragglers = await withTransaction(pool, async (client) => {
        await actAs(client, 'retention');
        for (const id of ids) await assertSignedCheckpoint(client, id, options.keyring!);
        const result = await client.query<{ deleted: string }>('select audit_chain_retain_partitions($1::bigint[], $2::text[], $3::timestamptz)::text as deleted', [
          ids,
          [partition.name],
          options.olderThan.toISOString(),
        ]);
        return Number(result.rows[0]!.deleted);
      });
    } catch (error) {
      // A lock not granted within its timeout (a long transaction on audit_logs), or a refusal:
      // the month stays for the next run, and its rows go row by row now. The checkpoints signed
      // for it name rows that are still there, so they stand.
      if (sqlState(error) !== '55P03' && !isLifecycleRefusal(error)) throw error;
      outcome.skipped = `not dropped: ${(error as Error).message}`;
      break;
    }
    for (const checkpoint of checkpoints) options.onCut?.({ orgId: checkpoint.org_id, cutSeq: checkpoint.chain_seq, rows: 0, checkpoint, partition: partition.name });
  }
  return done;
}

async function whyNotDroppable(pool: pg.Pool, ends: readonly ChainEnd[], olderThan: Date): Promise<string | null> {
  for (const end of ends) {
    const org = end.org_id === null ? 'a.org_id is null' : 'a.org_id = $3::uuid';
    const stateOrg = end.org_id === null ? 's.org_id is null' : 's.org_id = $3::uuid';
    const values: unknown[] = [end.last_seq, olderThan.toISOString()];
    if (end.org_id !== null) values.push(end.org_id);
    const check = (await pool.query<{ watermark_seq: string | null; halted: boolean; young: boolean }>(
      `select (select s.watermark_seq::text from audit_chain_state s where ${stateOrg}) as watermark_seq,
              coalesce((select s.halted_at is not null from audit_chain_state s where ${stateOrg}), false) as halted,
              exists (select 1 from audit_logs a where ${org} and a.chain_seq <= $1::bigint and a.recorded_at >= $2::timestamptz) as young`,
      values,
    )).rows[0]!;
    const chain = end.org_id ?? 'system';
    if (check.halted) return `chain ${chain} is halted`;
    if (check.watermark_seq === null || BigInt(end.last_seq) >= BigInt(check.watermark_seq)) {
      return `it holds the head (or pending rows) of chain ${chain}, which stays`;
    }
    if (check.young) return `chain ${chain} has rows recorded after the limit below its last row in this partition`;
  }
  return null;
}

async function recordAndExportAll(pool: pg.Pool, checkpoints: readonly SignedCheckpoint[], sinks: readonly RetentionSink[]): Promise<string[]> {
  const ids = await withTransaction(pool, async (client) => {
    await actAs(client, 'signer');
    const recorded: string[] = [];
    for (const checkpoint of checkpoints) recorded.push((await client.query<{ id: string }>(recordCheckpoint(checkpoint, sinks.map((sink) => sink.name)))).rows[0]!.id);
    return recorded;
  });
  for (const sink of sinks) {
    try {
      await sink.write(checkpoints);
    } catch (error) {
      throw new LifecycleError(`the checkpoints of a partition could not be exported to the ${sink.name} sink (${sink.target}): ${(error as Error).message}; nothing deleted`);
    }
    await withTransaction(pool, async (client) => {
      await actAs(client, 'signer');
      for (const id of ids) await client.query(markCheckpointExported(id, sink.name, new Date()));
    });
  }
  return ids;
}
