// Attached tables' signed checkpoints (audit_chain_table_checkpoints, 0053) in
// the lag model: the latest per chain for the chains a view shows (one query
// for a whole page), and the recorded checkpoints of one table or one of its
// chains, newest first, in the same records and cursor as audit_logs'.
import type { ChainedTable } from '@audit-chain/sealing';
import { attachedChainId } from './attached-lag.ts';
import type { CheckpointCursor } from './cursor.ts';
import { checkpointRecordOf, type CheckpointRow } from './records.ts';
import type { Queryable } from './snapshot.ts';
import { ageSeconds, iso, num, round3, type Query } from './sql.ts';
import type { ChainLag, CheckpointRecord } from './types.ts';

/** A chain of an attached table on a page: its figures (filled in place) and its table's registry id. */
export interface AttachedChainRef {
  lag: ChainLag;
  tableId: number;
}

const COLUMNS = `c.id::text as id, c.chain_key, c.chain_seq::text as chain_seq, c.sealed_count::text as sealed_count,
  c.checksum, ${iso('c.signed_at')} as signed_at, ${ageSeconds('c.signed_at')} as age, c.key_id, c.signature, c.body,
  c.exported_to, ${iso('c.created_at')} as created_at`;

/** As audit_logs' checkpoint row, with the chain's key in place of its org_id. */
type TableCheckpointRow = Omit<CheckpointRow, 'org_id'> & { chain_key: string | null };

/**
 * The latest checkpoint (highest chain_seq) of each listed chain, through the
 * (table_id, chain_key, chain_seq) index: one probe per chain in one query.
 * Two branches because `=` never matches a NULL key and IS NOT DISTINCT FROM
 * cannot use the index; the branch that cannot match is skipped.
 */
export function readLatestTableCheckpoints(tableIds: number[], keys: (string | null)[]): Query {
  const branch = (match: string) =>
    `(select c.id, c.chain_seq, c.sealed_count, c.signed_at, c.key_id from audit_chain_table_checkpoints c
       where c.table_id = k.table_id and ${match}
       order by c.chain_key desc, c.chain_seq desc, c.id desc limit 1)`;
  return {
    text: `select k.i::int as i, cp.id::text as id, cp.chain_seq::text as chain_seq, cp.sealed_count::text as sealed_count,
                  ${iso('cp.signed_at')} as signed_at, ${ageSeconds('cp.signed_at')} as age, cp.key_id
             from unnest($1::int[], $2::text[]) with ordinality as k(table_id, chain_key, i)
             cross join lateral (${branch('c.chain_key = k.chain_key')}
                                 union all
                                 ${branch('k.chain_key is null and c.chain_key is null')}
                                 limit 1) cp`,
    values: [tableIds, keys],
  };
}

/** Sets last_checkpoint (with rows_since, as audit_logs' chains have it) on every listed attached chain. */
export async function fillTableCheckpoints(db: Queryable, chains: AttachedChainRef[]): Promise<void> {
  if (chains.length === 0) return;
  const query = readLatestTableCheckpoints(
    chains.map((chain) => chain.tableId),
    chains.map((chain) => chain.lag.chain_key),
  );
  const rows = (
    await db.query<{ i: number; id: string; chain_seq: string; sealed_count: string; signed_at: string; age: number; key_id: string }>(query.text, query.values)
  ).rows;
  for (const row of rows) {
    const lag = chains[row.i - 1]!.lag;
    lag.last_checkpoint = {
      id: num(row.id),
      chain_seq: row.chain_seq,
      sealed_count: num(row.sealed_count),
      signed_at: row.signed_at,
      age_seconds: round3(row.age),
      key_id: row.key_id,
      rows_since: Math.max(lag.sealed_rows - num(row.sealed_count), 0),
    };
  }
}

/**
 * One attached table's checkpoints, newest first: of one chain (`key` given,
 * undefined for every chain) in chain_seq order through the chain's index,
 * else in the order they were recorded (id). The cursor is the last row's.
 */
export function readTableCheckpoints(tableId: number, key: string | null | undefined, limit: number, cursor?: CheckpointCursor): Query {
  const values: unknown[] = [limit, tableId];
  const conditions = ['c.table_id = $2'];
  let order = 'c.id desc';
  if (key !== undefined) {
    if (key === null) conditions.push('c.chain_key is null');
    else {
      values.push(key);
      conditions.push(`c.chain_key = $${values.length}`);
    }
    order = 'c.chain_key desc, c.chain_seq desc, c.id desc';
    if (cursor) {
      values.push(cursor.chainSeq.toString(), cursor.id.toString());
      conditions.push(`(c.chain_seq, c.id) < ($${values.length - 1}::bigint, $${values.length}::bigint)`);
    }
  } else if (cursor) {
    values.push(cursor.id.toString());
    conditions.push(`c.id < $${values.length}::bigint`);
  }
  return { text: `select ${COLUMNS} from audit_chain_table_checkpoints c where ${conditions.join(' and ')} order by ${order} limit $1`, values };
}

export async function queryTableCheckpoints(
  db: Queryable,
  table: ChainedTable,
  key: string | null | undefined,
  limit: number,
  cursor?: CheckpointCursor,
): Promise<{ records: CheckpointRecord[]; last: CheckpointCursor | undefined }> {
  const query = readTableCheckpoints(table.id, key, limit, cursor);
  const rows = (await db.query<TableCheckpointRow>(query.text, query.values)).rows;
  const last = rows.at(-1);
  return {
    records: rows.map((row) => toTableCheckpointRecord(table, row)),
    last: last ? { id: BigInt(last.id), chainSeq: BigInt(last.chain_seq) } : undefined,
  };
}

function toTableCheckpointRecord(table: ChainedTable, row: TableCheckpointRow): CheckpointRecord {
  return checkpointRecordOf(row, { table: `${table.schema}.${table.table}`, chain: attachedChainId(table, row.chain_key), chain_key: row.chain_key, org_id: null });
}
