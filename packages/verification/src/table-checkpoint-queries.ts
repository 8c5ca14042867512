// SQL of the signed-checkpoint stage for attached tables' chains, as
// { text, values }: the counterpart of checkpoint-queries.ts over
// audit_chain_table_state and audit_chain_table_checkpoints (drizzle/0053).
// Like audit_chain_checkpoints, the table is a convenience copy: verification
// trusts a row of it only through its signature.
import { quoteIdent, type SignedTableCheckpoint } from '@audit-chain/chain';
import { qualifiedName, type ChainedTable } from '@audit-chain/sealing';
import type { Query } from './checkpoint-queries.ts';

/**
 * Every sealed chain of every attached table (or of the tables `tableIds`),
 * beside its latest recorded checkpoint. `chain_key = x` never matches NULL and
 * `is not distinct from` cannot use the index, hence two branches.
 */
export function readTableHeadsAndCheckpoints(tableIds?: readonly number[]): Query {
  const values: unknown[] = [];
  let filter = '';
  if (tableIds !== undefined) {
    values.push(tableIds);
    filter = 'and s.table_id = any($1::int[])';
  }
  const branch = (match: string) =>
    `(select c.chain_seq, c.sealed_count, c.signed_at from audit_chain_table_checkpoints c
       where c.table_id = s.table_id and ${match} order by c.chain_key desc, c.chain_seq desc limit 1)`;
  return {
    text: `select s.table_id, s.chain_key, s.watermark_seq::text as watermark_seq, s.head_checksum, s.sealed_rows::text as sealed_count,
                  c.chain_seq::text as checkpoint_seq, c.sealed_count::text as checkpoint_count, c.signed_at as checkpoint_signed_at
             from audit_chain_table_state s
             join audit_chain_tables t on t.id = s.table_id and t.format_version >= 2 and t.status in ('attached', 'drifted')
             left join lateral (${branch('c.chain_key = s.chain_key')} union all ${branch('s.chain_key is null and c.chain_key is null')} limit 1) c on true
            where s.watermark_seq > 0 ${filter}
            order by s.table_id, s.chain_key nulls first`,
    values,
  };
}

/**
 * The stored checksums of the rows at `chainSeqs` (the heads to sign), with
 * their chain keys, in one statement per table: attach adds no index on
 * audit_chain_seq, so one scan checks every head of the table at once.
 */
export function readTableRowsAt(table: ChainedTable, chainSeqs: readonly string[]): Query {
  const key = table.chainKey === null ? 'null::text' : `t.${quoteIdent(table.chainKey)}::text`;
  return {
    text: `select t.${quoteIdent(table.seqColumn)}::text as seq, ${key} as chain_key, t.${quoteIdent(table.checksumColumn)} as checksum
             from ${qualifiedName(table)} t where t.${quoteIdent(table.seqColumn)} = any($1::bigint[])`,
    values: [chainSeqs],
  };
}

export function insertTableCheckpoint(tableId: number, checkpoint: SignedTableCheckpoint, sinkNames: readonly string[]): Query {
  const exportedTo = Object.fromEntries(sinkNames.map((name) => [name, null]));
  return {
    text: `insert into audit_chain_table_checkpoints (table_id, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body, exported_to)
           values ($1::int, $2, $3::bigint, $4::bigint, $5, $6::timestamptz, $7, $8, $9::jsonb, $10::jsonb)
           returning id::text as id`,
    values: [
      tableId,
      checkpoint.chain_key,
      checkpoint.chain_seq,
      checkpoint.sealed_count,
      checkpoint.checksum,
      checkpoint.signed_at,
      checkpoint.key_id,
      checkpoint.signature,
      JSON.stringify(checkpoint),
      JSON.stringify(exportedTo),
    ],
  };
}

// Export retries of these checkpoints: readExportPending and markExported (checkpoint-queries.ts) with store 'table'.

/** A page of every recorded checkpoint of attached tables (keyset on the primary key), for verification. */
export function readTableCheckpointPage(afterId: string, limit: number): Query {
  return {
    text: `select c.id::text as id, c.body, c.signature from audit_chain_table_checkpoints c
            where c.id > $1::bigint order by c.id limit $2`,
    values: [afterId, limit],
  };
}
