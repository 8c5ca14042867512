// Which heads of attached tables' chains a checkpoint round signs: the
// counterpart of dueHeads (sign-checkpoints.ts) over audit_chain_table_state.
// A head is never signed when its watermark went below the chain's last
// checkpoint or when the row at the watermark does not carry head_checksum
// (the state contradicts the rows: that is for verify to report, not for a
// signature to bless).
import type pg from 'pg';
import { listChainedTables, chainLabel, type ChainedTable } from '@audit-chain/sealing';
import { checkpointDecision, type CheckpointPolicy, type LastCheckpoint } from './checkpoint-policy.ts';
import { readTableHeadsAndCheckpoints, readTableRowsAt } from './table-checkpoint-queries.ts';

export interface TableHead {
  table: ChainedTable;
  chainKey: string | null;
  watermarkSeq: bigint;
  headChecksum: string;
  sealedCount: bigint;
}

export interface SkippedTableChain {
  /** "schema.table chain <key>", as every command names a chain. */
  chain: string;
  reason: 'regressed' | 'head_row_mismatch';
  message: string;
}

interface TableHeadRow {
  table_id: number;
  chain_key: string | null;
  watermark_seq: string;
  head_checksum: string | null;
  sealed_count: string;
  checkpoint_seq: string | null;
  checkpoint_count: string | null;
  checkpoint_signed_at: Date | null;
}

/** `table`: "schema.table" or a table name, to sign that table's chains only. Throws on a table that is not attached. */
export async function dueTableHeads(
  client: pg.PoolClient,
  policy: CheckpointPolicy | 'requested',
  now: Date,
  skipped: SkippedTableChain[],
  table?: string,
): Promise<TableHead[]> {
  let tables = await listChainedTables(client);
  if (table !== undefined) {
    tables = tables.filter((found) => table === `${found.schema}.${found.table}` || table === found.table);
    if (tables.length === 0) throw new UnknownTableError(`no attached table ${table} (audit_chain_tables): see \`audit-chain status\``);
  }
  const byId = new Map(tables.map((found) => [found.id, found]));
  const rows = (await client.query<TableHeadRow>(readTableHeadsAndCheckpoints([...byId.keys()]))).rows;
  const candidates: { head: TableHead; label: string }[] = [];
  for (const row of rows) {
    const chained = byId.get(row.table_id)!;
    const label = chainLabel(chained, row.chain_key, chained.chainKey !== null);
    if (row.head_checksum === null) {
      skipped.push({ chain: label, reason: 'head_row_mismatch', message: `watermark ${row.watermark_seq} has no head checksum in audit_chain_table_state; not signed (run audit-chain verify)` });
      continue;
    }
    const head: TableHead = { table: chained, chainKey: row.chain_key, watermarkSeq: BigInt(row.watermark_seq), headChecksum: row.head_checksum, sealedCount: BigInt(row.sealed_count) };
    const last: LastCheckpoint | null =
      row.checkpoint_seq === null ? null : { chainSeq: BigInt(row.checkpoint_seq), sealedCount: BigInt(row.checkpoint_count!), signedAt: row.checkpoint_signed_at! };
    const decision = checkpointDecision(head, last, now, policy);
    if (decision.reason === 'regressed') {
      skipped.push({
        chain: label,
        reason: 'regressed',
        message: `watermark ${head.watermarkSeq}: got it below the last checkpoint's chain_seq ${last!.chainSeq}, want it never to go back; not signed (run audit-chain verify)`,
      });
      continue;
    }
    if (decision.due) candidates.push({ head, label });
  }
  const due: TableHead[] = [];
  for (const chained of tables) {
    const mine = candidates.filter((candidate) => candidate.head.table.id === chained.id);
    if (mine.length === 0) continue;
    const found = new Map<string, (string | null)[]>();
    const at = (seq: string, chainKey: string | null) => JSON.stringify([seq, chainKey]);
    const heads = await client.query<{ seq: string; chain_key: string | null; checksum: string | null }>(readTableRowsAt(chained, mine.map((candidate) => String(candidate.head.watermarkSeq))));
    for (const row of heads.rows) found.set(at(row.seq, row.chain_key), [...(found.get(at(row.seq, row.chain_key)) ?? []), row.checksum]);
    for (const { head, label } of mine) {
      const atHead = found.get(at(String(head.watermarkSeq), head.chainKey)) ?? [];
      const checksum = atHead.length === 1 ? atHead[0]! : null;
      if (checksum !== head.headChecksum) {
        skipped.push({
          chain: label,
          reason: 'head_row_mismatch',
          message: `row at watermark ${head.watermarkSeq}: got checksum ${checksum ?? '(no row)'}, want the chain state's head ${head.headChecksum}; not signed (run audit-chain verify)`,
        });
        continue;
      }
      due.push(head);
    }
  }
  return due;
}

export class UnknownTableError extends Error {
  override name = 'UnknownTableError';
}
