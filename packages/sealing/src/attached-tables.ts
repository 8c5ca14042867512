// Sealing the chains of attached tables (a product's own tables, chained in
// place by `audit-chain attach`) under format v2. Per table:
//   1. drift: the table's columns (ours and the excluded ones aside) must be
//      the confirmed covered set of its latest revision; otherwise the table is
//      marked 'drifted' and not sealed until `attach --refresh`;
//   2. the safe horizon, by the same argument as audit_logs' (docs/sealing.md):
//      read q = the identity sequence's last value, then in a later statement
//      the transactions holding RowExclusiveLock on the table; once none of
//      them runs, every chain_seq <= q is final;
//   3. per chain (a value of the chain key), in one transaction: lock its
//      state row, link its pending rows up to the horizon in chain_seq order
//      (@audit-chain/chain sealRowsCompiledV2: the column set's encoding compiled
//      once, byte for byte sealRowsV2's), advance the watermark.
import type pg from 'pg';
import { TABLE_COLUMNS_SQL, formatV2Layout, quoteIdent, sealRowsCompiledV2, selectListV2, valuesFromResult, type CoveredColumn, type FormatV2Layout, type TableColumn } from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { saltSource } from './salt-pool.ts';

export interface ChainedTable {
  id: number;
  schema: string;
  table: string;
  chainKey: string | null;
  /** The order the table's existing rows were chained in (attach --order-by). */
  orderBy: string[];
  seqColumn: string;
  prevColumn: string;
  checksumColumn: string;
  versionColumn: string;
  piiDigestColumn: string;
  piiSaltColumn: string;
  excluded: string[];
  status: string;
  drift: string | null;
  /** Column-set revisions, oldest first: each covers rows from effectiveFromSeq on. */
  revisions: { revision: number; effectiveFromSeq: bigint; covered: CoveredColumn[] }[];
}

/**
 * attach numbers a table's existing rows 1..N; rows written from the attach on
 * take their chain_seq from a sequence starting above this, so no value in
 * (N, LIVE_SEQ_START] is ever handed out.
 */
export const LIVE_SEQ_START = 1_000_000_000_000n;

/** "schema"."table", as SQL. */
export function qualifiedName(table: Pick<ChainedTable, 'schema' | 'table'>): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
}

/** The chain's name as every command prints it: the table, and the chain key's value (or "all rows"). */
export function chainLabel(table: Pick<ChainedTable, 'schema' | 'table'>, key: string | null, keyed: boolean): string {
  return `${table.schema}.${table.table} ${keyed ? `chain ${key === null ? '(null key)' : key}` : 'chain (all rows)'}`;
}

/** Every attached table (audit_logs, sealed by its own sealer, aside). */
export async function listChainedTables(db: Pick<pg.ClientBase, 'query'>): Promise<ChainedTable[]> {
  const tables = await db.query<{
    id: number; schema: string; table: string; chain_key_column: string | null; order_by: string[]; seq_column: string; prev_column: string; checksum_column: string;
    version_column: string; pii_digest_column: string; pii_salt_column: string; excluded: string[]; status: string; drift: string | null;
    revisions: { revision: number; effective_from_seq: string; covered: CoveredColumn[] }[];
  }>(
    `select t.id, t.schema_name::text as schema, t.table_name::text as table, t.chain_key_column::text as chain_key_column, t.order_by::text[] as order_by, t.seq_column::text as seq_column,
            t.prev_column::text as prev_column, t.checksum_column::text as checksum_column, t.version_column::text as version_column,
            t.pii_digest_column::text as pii_digest_column, t.pii_salt_column::text as pii_salt_column, t.excluded_columns::text[] as excluded,
            t.status, t.drift,
            (select coalesce(json_agg(json_build_object('revision', c.revision, 'effective_from_seq', c.effective_from_seq::text, 'covered', c.covered) order by c.revision), '[]')
               from audit_chain_table_columns c where c.table_id = t.id) as revisions
       from audit_chain_tables t
      where t.format_version >= 2 and t.status in ('attached', 'drifted')
      order by t.id`,
  );
  return tables.rows.map((row) => ({
    id: row.id,
    schema: row.schema,
    table: row.table,
    chainKey: row.chain_key_column,
    orderBy: row.order_by,
    seqColumn: row.seq_column,
    prevColumn: row.prev_column,
    checksumColumn: row.checksum_column,
    versionColumn: row.version_column,
    piiDigestColumn: row.pii_digest_column,
    piiSaltColumn: row.pii_salt_column,
    excluded: row.excluded,
    status: row.status,
    drift: row.drift,
    revisions: row.revisions.map((revision) => ({ revision: revision.revision, effectiveFromSeq: BigInt(revision.effective_from_seq), covered: revision.covered })),
  }));
}

/** The columns of ours that attach added: never covered. */
export function chainColumnsOf(table: ChainedTable): string[] {
  return [table.seqColumn, table.prevColumn, table.checksumColumn, table.versionColumn, table.piiDigestColumn, table.piiSaltColumn];
}

/** What differs between the table's columns now and its latest confirmed covered set; empty when nothing does. */
export async function columnDrift(db: Pick<pg.ClientBase, 'query'>, table: ChainedTable): Promise<string[]> {
  const now = (await db.query<TableColumn>(TABLE_COLUMNS_SQL, [qualifiedName(table)])).rows.filter(
    (column) => !chainColumnsOf(table).includes(column.name) && !table.excluded.includes(column.name),
  );
  const latest = table.revisions.at(-1)?.covered ?? [];
  const changes: string[] = [];
  for (const column of latest) {
    const found = now.find((candidate) => candidate.name === column.name);
    if (!found) changes.push(`column ${column.name} was dropped`);
    else if (found.type !== column.type) changes.push(`column ${column.name} changed type from ${column.type} to ${found.type}`);
  }
  for (const column of now) if (!latest.some((covered) => covered.name === column.name)) changes.push(`column ${column.name} (${column.type}) was added`);
  return changes;
}

/** The covered column set that applies to the row with this chain_seq. */
export function revisionFor(table: ChainedTable, seq: bigint): ChainedTable['revisions'][number] {
  let found = table.revisions[0];
  for (const revision of table.revisions) if (revision.effectiveFromSeq <= seq) found = revision;
  if (!found) throw new Error(`${qualifiedName(table)} has no covered column set`);
  return found;
}

/** The safe horizon of one attached table (see the head of this file); waits up to `waitMs` for its open writers. */
export async function attachedHorizon(pool: pg.Pool, table: ChainedTable, waitMs: number, pollMs = 20): Promise<bigint | null> {
  const sequence = await pool.query<{ seq: string | null }>('select pg_get_serial_sequence($1, $2) as seq', [qualifiedName(table), table.seqColumn]);
  const name = sequence.rows[0]?.seq;
  if (!name) throw new Error(`${qualifiedName(table)}.${table.seqColumn} has no sequence: is the attach finished?`);
  const head = await pool.query<{ last_value: string; is_called: boolean }>(`select last_value::text, is_called from ${name}`);
  const q = head.rows[0]!.is_called ? BigInt(head.rows[0]!.last_value) : BigInt(head.rows[0]!.last_value) - 1n;
  const listWriters = async (): Promise<Set<string>> => {
    const rows = await pool.query<{ vxid: string }>(
      `select virtualtransaction as vxid from pg_locks
        where locktype = 'relation' and relation = $1::regclass and mode = 'RowExclusiveLock' and granted and pid is distinct from pg_backend_pid()`,
      [qualifiedName(table)],
    );
    return new Set(rows.rows.map((row) => row.vxid));
  };
  const writers = await listWriters();
  const deadline = Date.now() + waitMs;
  while (writers.size > 0) {
    const still = await listWriters();
    for (const vxid of [...writers]) if (!still.has(vxid)) writers.delete(vxid);
    if (writers.size === 0) break;
    if (Date.now() > deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return q;
}

export interface AttachedSealResult {
  table: string;
  /** unsupported: Citus distributes the table (it was distributed after attach); it is not sealed. */
  status: 'sealed' | 'drifted' | 'held' | 'unsupported';
  /** Rows sealed per chain label. */
  chains: { label: string; sealed: number; watermark: bigint }[];
  message?: string;
}

/** True when Citus manages the table (an attached table distributed afterwards); false on a plain PostgreSQL. */
async function distributedByCitus(db: Pick<pg.ClientBase, 'query'>, table: Pick<ChainedTable, 'schema' | 'table'>): Promise<boolean> {
  const citus = await db.query<{ present: boolean }>("select to_regclass('pg_catalog.pg_dist_partition') is not null as present");
  if (!citus.rows[0]?.present) return false;
  const found = await db.query<{ n: number }>('select count(*)::int as n from pg_catalog.pg_dist_partition where logicalrelid = $1::regclass', [qualifiedName(table)]);
  return (found.rows[0]?.n ?? 0) > 0;
}

/**
 * Publishes a proven horizon of an attached table for the lag views (rows
 * above it are counted as held); only ever moves it forward, and horizon_at
 * says when it last moved.
 */
export async function recordAttachedHorizon(db: Pick<pg.ClientBase, 'query'>, tableId: number, horizon: bigint): Promise<void> {
  await db.query(
    `insert into audit_chain_table_horizon as h (table_id, horizon_seq) values ($1, $2)
     on conflict (table_id) do update set horizon_seq = excluded.horizon_seq, horizon_at = now()
      where excluded.horizon_seq > h.horizon_seq`,
    [tableId, horizon.toString()],
  );
}

/** Seals every attached table up to its horizon. */
export async function sealAttachedTables(pool: pg.Pool, options: { batchSize: number; waitMs: number }): Promise<AttachedSealResult[]> {
  const results: AttachedSealResult[] = [];
  for (const table of await listChainedTables(pool)) results.push(await sealAttachedTable(pool, table, options));
  return results;
}

export async function sealAttachedTable(pool: pg.Pool, table: ChainedTable, options: { batchSize: number; waitMs: number }): Promise<AttachedSealResult> {
  const name = `${table.schema}.${table.table}`;
  const drift = await columnDrift(pool, table);
  if (drift.length > 0) {
    const message = `${name}: the table's columns changed (${drift.join('; ')}); sealing of its chains stops until \`audit-chain attach --table ${name} --refresh\` confirms the new column set`;
    if (table.status !== 'drifted' || table.drift !== message) {
      await pool.query("update audit_chain_tables set status = 'drifted', drift = $2 where id = $1", [table.id, message]);
    }
    return { table: name, status: 'drifted', chains: [], message };
  }
  if (await distributedByCitus(pool, table)) {
    return {
      table: name,
      status: 'unsupported',
      chains: [],
      message: `${name} is a Citus distributed or reference table (distributed after it was attached): attached tables are sealed only as plain tables, whose safe horizon the coordinator's locks prove and whose chains Citus can plan; make it a plain table again with undistribute_table('${name}') (docs/scaling.md#citus)`,
    };
  }
  const horizon = await attachedHorizon(pool, table, options.waitMs);
  if (horizon === null) return { table: name, status: 'held', chains: [], message: `${name}: a transaction writing to it is still open` };
  await recordAttachedHorizon(pool, table.id, horizon);
  const chains: AttachedSealResult['chains'] = [];
  const seq = quoteIdent(table.seqColumn);
  const key = table.chainKey ? `${quoteIdent(table.chainKey)}::text` : 'null::text';
  // Chains with rows above their watermark, up to the horizon.
  const pending = await pool.query<{ chain_key: string | null }>(
    `select distinct ${key} as chain_key from ${qualifiedName(table)} t
      where ${seq} <= $2 and ${seq} > coalesce((select s.watermark_seq from audit_chain_table_state s where s.table_id = $1 and s.chain_key is not distinct from ${table.chainKey ? `t.${quoteIdent(table.chainKey)}::text` : 'null'}), 0)`,
    [table.id, horizon.toString()],
  );
  for (const { chain_key: chainKey } of pending.rows) {
    let total = 0;
    let watermark = 0n;
    for (;;) {
      const sealed = await sealChainBatch(pool, table, chainKey, horizon, options.batchSize);
      if (sealed === null) break;
      total += sealed.sealed;
      watermark = sealed.watermark;
      if (sealed.sealed < options.batchSize) break;
    }
    chains.push({ label: chainLabel(table, chainKey, table.chainKey !== null), sealed: total, watermark });
  }
  return { table: name, status: 'sealed', chains };
}

const salts = saltSource();

/** Layouts (with their compiled encodings) by covered column set, built once per set; few sets exist. */
const layouts = new Map<string, FormatV2Layout>();

function layoutOf(covered: CoveredColumn[]): FormatV2Layout {
  const key = JSON.stringify(covered.map((column) => [column.name, column.type, column.personal, column.base ?? null]));
  let layout = layouts.get(key);
  if (!layout) {
    layout = formatV2Layout(covered);
    layouts.set(key, layout);
  }
  return layout;
}

/** One batch of one chain, in one transaction; null when another sealer holds the chain. */
async function sealChainBatch(pool: pg.Pool, table: ChainedTable, chainKey: string | null, horizon: bigint, batchSize: number): Promise<{ sealed: number; watermark: bigint } | null> {
  return withTransaction(pool, async (client) => {
    await client.query(
      'insert into audit_chain_table_state (table_id, chain_key) values ($1, $2) on conflict on constraint audit_chain_table_state_chain do nothing',
      [table.id, chainKey],
    );
    const state = await client.query<{ watermark_seq: string; head_checksum: string | null }>(
      'select watermark_seq::text, head_checksum from audit_chain_table_state where table_id = $1 and chain_key is not distinct from $2 for update skip locked',
      [table.id, chainKey],
    );
    const current = state.rows[0];
    if (!current) return null;
    const from = BigInt(current.watermark_seq);
    const seq = quoteIdent(table.seqColumn);
    const keyMatch = table.chainKey ? `t.${quoteIdent(table.chainKey)}::text is not distinct from $3` : '$3::text is null';
    // Rows of one revision at a time: a batch never spans a change of the covered column set;
    // a revision with no pending rows of this chain is passed over.
    let revision = revisionFor(table, from + 1n);
    let rows: pg.QueryResult<Record<string, unknown> & { seq: string }>;
    for (;;) {
      const next = table.revisions.find((candidate) => candidate.effectiveFromSeq > revision.effectiveFromSeq);
      const upper = next && next.effectiveFromSeq - 1n < horizon ? next.effectiveFromSeq - 1n : horizon;
      rows = await client.query<Record<string, unknown> & { seq: string }>(
        `select t.${seq}::text as seq, ${selectListV2(revision.covered, 't')} from ${qualifiedName(table)} t
          where t.${seq} > $1 and t.${seq} <= $2 and ${keyMatch} order by t.${seq} limit ${batchSize}`,
        [from.toString(), upper.toString(), chainKey],
      );
      if (rows.rows.length > 0 || !next || upper >= horizon) break;
      revision = next;
    }
    if (rows.rows.length === 0) return { sealed: 0, watermark: from };
    const links = sealRowsCompiledV2(layoutOf(revision.covered), {
      headChecksum: current.head_checksum,
      rows: rows.rows.map((row) => ({ chainKey, chainSeq: row.seq, values: valuesFromResult(row, revision.covered.length) })),
      newSalt: salts,
    });
    await client.query(
      `update ${qualifiedName(table)} t set ${quoteIdent(table.prevColumn)} = l.prev, ${quoteIdent(table.checksumColumn)} = l.checksum,
              ${quoteIdent(table.versionColumn)} = 2, ${quoteIdent(table.piiDigestColumn)} = l.digest, ${quoteIdent(table.piiSaltColumn)} = l.salt
         from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) as l(seq, prev, checksum, digest, salt)
        where t.${seq} = l.seq`,
      [links.map((link) => link.chainSeq), links.map((link) => link.prevChecksum), links.map((link) => link.checksum), links.map((link) => link.piiDigest), links.map((link) => link.piiSalt)],
    );
    const last = links.at(-1)!;
    const moved = await client.query(
      `update audit_chain_table_state set watermark_seq = $3, head_checksum = $4, sealed_rows = sealed_rows + $5, updated_at = now()
        where table_id = $1 and chain_key is not distinct from $2 and watermark_seq = $6`,
      [table.id, chainKey, last.chainSeq, last.checksum, links.length, from.toString()],
    );
    if (moved.rowCount !== 1) throw new Error(`${chainLabel(table, chainKey, table.chainKey !== null)}: the watermark moved under a locked chain`);
    return { sealed: links.length, watermark: BigInt(last.chainSeq) };
  });
}
