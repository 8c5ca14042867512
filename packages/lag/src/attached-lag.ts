// The lag figures of attached tables (a product's own tables, chained in place
// by `audit-chain attach`), in the same model as audit_logs' so both sum into
// one set of totals and sort into one list:
//   - the table's horizon is the one its sealer last proved and published
//     (audit_chain_table_horizon); its head is its identity sequence;
//   - a chain's pending rows are its visible rows above its watermark, counted
//     in this reading's snapshot; those above the table's horizon are held
//     (waiting for the table's open writers, or for the sealer's next round);
//   - chain_seq values above the horizon that no visible row holds (rows of
//     open transactions, rollbacks) are the table's unattributed values.
// The count reads the table's rows above each chain's watermark: a product's
// table has no index on the chain_seq column attach added (it would cost the
// product's writers), so this is one scan of the table per reading, as the
// sealer's own round does.
import { quoteIdent } from '@audit-chain/chain';
import { LIVE_SEQ_START, columnDrift, listChainedTables, qualifiedName, type ChainedTable } from '@audit-chain/sealing';
import { heldSeconds, horizonState, toHolder, type HolderRow } from './horizon.ts';
import type { SortedChain } from './chain-order.ts';
import type { Queryable } from './snapshot.ts';
import { ageSeconds, iso, num, round3 } from './sql.ts';
import type { ChainDrift, ChainLag, OldestPending, TableLag } from './types.ts';

export interface AttachedTableReading {
  /** audit_chain_tables.id. */
  tableId: number;
  lag: TableLag;
  oldest: OldestPending | undefined;
  chains: SortedChain[];
}

/** The sort key text of a chain key within its table: NULL sorts first, and never equals a value (not even ''). */
const SORT_KEY = (key: string) => `coalesce('k' || ${key}, '')`;

/** The chain's id as printed and exported: the key's value, 'null' for a NULL key, 'all' for a table without a key. */
export function attachedChainId(table: Pick<ChainedTable, 'chainKey'>, key: string | null): string {
  if (table.chainKey === null) return 'all';
  return key ?? 'null';
}

/** The command that confirms a drifted table's new column set. */
export function refreshCommand(table: Pick<ChainedTable, 'schema' | 'table'>): string {
  return `audit-chain attach --table ${table.schema}.${table.table} --refresh`;
}

/**
 * A timestamp expression for the table's rows: its first --order-by column
 * when that is a timestamp (without time zone: read as UTC, whatever the
 * session's TimeZone); null when there is none.
 */
export function timeExpression(table: Pick<ChainedTable, 'orderBy' | 'revisions'>, alias: string): string | null {
  const first = table.orderBy[0];
  const column = table.revisions.at(-1)?.covered.find((candidate) => candidate.name === first);
  if (!first || !column) return null;
  const type = (column as { base?: string }).base ?? column.type;
  if (/^timestamp(\(\d\))? with time zone$/.test(type)) return `${alias}.${quoteIdent(first)}`;
  if (/^timestamp(\(\d\))? without time zone$/.test(type)) return `(${alias}.${quoteIdent(first)} at time zone 'UTC')`;
  return null;
}

interface ChainRow {
  sort_key: string;
  chain_key: string | null;
  watermark_seq: string;
  sealed_rows: string;
  pending: string;
  held: string;
  /** Of held, the rows numbered from the live sequence (above LIVE_SEQ_START). */
  held_live: string;
  head_seq: string;
  first_seq: string | null;
  first_at: string | null;
  first_age: number | null;
  last_sealed_at: string | null;
  last_seal_age: number | null;
  since_us: string;
}

/** Every chain of the table: those with a state row and those with pending rows only. */
function chainFigures(table: ChainedTable): string {
  const key = table.chainKey ? `t.${quoteIdent(table.chainKey)}::text` : 'null::text';
  const seq = `t.${quoteIdent(table.seqColumn)}`;
  const time = timeExpression(table, 't');
  return `with s as (
            select ${SORT_KEY('chain_key')} as sort_key, chain_key, watermark_seq, sealed_rows, updated_at
              from audit_chain_table_state where table_id = $1
          ), r as (
            select ${SORT_KEY(key)} as sort_key, min(${key}) as chain_key, count(*) as pending,
                   count(*) filter (where ${seq} > $2::bigint) as held,
                   count(*) filter (where ${seq} > greatest($2::bigint, ${LIVE_SEQ_START})) as held_live, min(${seq}) as first_seq, max(${seq}) as head_seq,
                   ${time ? `min(${time})` : 'null::timestamptz'} as first_at
              from ${qualifiedName(table)} t
              left join s on s.sort_key = ${SORT_KEY(key)}
             where ${seq} > coalesce(s.watermark_seq, 0)
             group by 1
          )
          select coalesce(s.sort_key, r.sort_key) as sort_key, coalesce(s.chain_key, r.chain_key) as chain_key,
                 coalesce(s.watermark_seq, 0)::text as watermark_seq, coalesce(s.sealed_rows, 0)::text as sealed_rows,
                 coalesce(r.pending, 0)::text as pending, coalesce(r.held, 0)::text as held, coalesce(r.held_live, 0)::text as held_live,
                 greatest(coalesce(r.head_seq, 0), coalesce(s.watermark_seq, 0))::text as head_seq,
                 r.first_seq::text as first_seq, ${iso('r.first_at')} as first_at, ${ageSeconds('r.first_at')} as first_age,
                 ${iso('s.sealed_at')} as last_sealed_at, ${ageSeconds('s.sealed_at')} as last_seal_age,
                 (extract(epoch from coalesce(s.sealed_at, r.first_at, s.updated_at, now())) * 1000000)::bigint::text as since_us
            from (select s.*, case when s.sealed_rows > 0 then s.updated_at end as sealed_at from s) s
            full join r on r.sort_key = s.sort_key`;
}

/** Open transactions holding RowExclusiveLock on the table (its writers), oldest first, as audit_chain_open_writers does for audit_logs. */
function tableWriters(): string {
  return `select distinct on (l.virtualtransaction) l.pid, a.application_name, a.usename as user_name, a.state,
                 ${iso('a.xact_start')} as xact_start, ${ageSeconds('a.xact_start')} as xact_age,
                 ${iso('a.state_change')} as state_change, ${ageSeconds('a.state_change')} as state_age,
                 case when a.wait_event is null then null else a.wait_event_type || ':' || a.wait_event end as wait_event,
                 left(a.query, 500) as query
            from pg_locks l left join pg_stat_activity a on a.pid = l.pid
           where l.locktype = 'relation' and l.mode = 'RowExclusiveLock' and l.relation = $1::regclass
             and l.database = (select oid from pg_database where datname = current_database())
             and l.pid is distinct from pg_backend_pid()
           order by l.virtualtransaction, l.granted desc`;
}

export async function readAttachedTable(db: Queryable, table: ChainedTable, workersAlive: number): Promise<AttachedTableReading> {
  const name = `${table.schema}.${table.table}`;
  const tableId = table.id;
  const horizonRow = (
    await db.query<{ horizon_seq: string; horizon_at: string | null; horizon_age: number | null }>(
      `select h.horizon_seq::text as horizon_seq, ${iso('h.horizon_at')} as horizon_at, ${ageSeconds('h.horizon_at')} as horizon_age
         from audit_chain_table_horizon h where h.table_id = $1`,
      [tableId],
    )
  ).rows[0];
  const horizon = BigInt(horizonRow?.horizon_seq ?? '0');
  // The sequence after the horizon (it is not transactional): the head is never below a horizon proven from an earlier head.
  const sequence = (await db.query<{ seq: string | null }>('select pg_get_serial_sequence($1, $2) as seq', [qualifiedName(table), table.seqColumn])).rows[0]?.seq;
  let head = horizon;
  if (sequence) {
    const last = (await db.query<{ last_value: string; is_called: boolean }>(`select last_value::text, is_called from ${sequence}`)).rows[0]!;
    head = last.is_called ? BigInt(last.last_value) : BigInt(last.last_value) - 1n;
  }
  if (head < horizon) head = horizon;
  const behind = horizon < head;
  const holders = behind ? (await db.query<HolderRow>(tableWriters(), [qualifiedName(table)])).rows.map(toHolder) : [];

  const rows = (await db.query<ChainRow>(chainFigures(table), [tableId, horizon.toString()])).rows;
  const changes = table.status === 'drifted' ? [] : await columnDrift(db, table);
  const drifted = table.status === 'drifted' || changes.length > 0;
  const drift: ChainDrift | null = drifted
    ? {
        message:
          table.drift ??
          `${name}: the table's columns changed (${changes.join('; ')}); sealing of its chains stops until \`${refreshCommand(table)}\` confirms the new column set`,
        command: refreshCommand(table),
      }
    : null;

  const chains: SortedChain[] = rows.map((row) => {
    const pending = num(row.pending);
    const lag: ChainLag = {
      table: name,
      chain: attachedChainId(table, row.chain_key),
      chain_key: row.chain_key,
      org_id: null,
      pending_rows: pending,
      held_rows: num(row.held),
      sealed_rows: num(row.sealed_rows),
      watermark_seq: row.watermark_seq,
      head_seq: row.head_seq,
      oldest_pending:
        row.first_seq === null ? null : { chain_seq: row.first_seq, recorded_at: row.first_at, age_seconds: row.first_age === null ? null : round3(row.first_age) },
      last_sealed_at: row.last_sealed_at,
      last_seal_age_seconds: row.last_seal_age === null ? null : round3(row.last_seal_age),
      halted: null,
      drift,
      // Filled for the chains shown (table-checkpoints.ts: one query per page).
      last_checkpoint: null,
      last_verification: null,
    };
    return { lag, sort: { attention: drifted ? 1 : 0, pending: BigInt(pending), sinceMicros: BigInt(row.since_us), tableId, key: row.sort_key } };
  });

  const heldRows = chains.reduce((sum, chain) => sum + chain.lag.held_rows, 0);
  const pendingRows = chains.reduce((sum, chain) => sum + chain.lag.pending_rows, 0);
  // Values above the horizon that no visible row holds. attach numbered the
  // existing rows itself (all visible) and never hands out the values between
  // them and LIVE_SEQ_START, so only values from there on count.
  const liveFrom = horizon > LIVE_SEQ_START ? horizon : LIVE_SEQ_START;
  const heldLive = rows.reduce((sum, row) => sum + num(row.held_live), 0);
  const unattributed = Math.max(Number(head > liveFrom ? head - liveFrom : 0n) - heldLive, 0);
  // The earliest recorded time (exact, unlike the rounded ages), then the lowest chain_seq.
  let oldest: OldestPending | undefined;
  for (const chain of chains) {
    const first = chain.lag.oldest_pending;
    if (!first || first.recorded_at === null) continue;
    if (!oldest || isOlder(first, oldest)) oldest = { ...first, table: name, chain: chain.lag.chain, org_id: null, exact: true };
  }
  // The wait starts no earlier than the oldest held row's time; without a time column, the horizon's last move is the only bound.
  const oldestHeld = chains
    .filter((chain) => chain.lag.held_rows > 0)
    .reduce<number | undefined>((max, chain) => Math.max(max ?? 0, chain.lag.oldest_pending?.age_seconds ?? horizonRow?.horizon_age ?? 0), undefined);
  const held = behind ? heldSeconds(horizonRow?.horizon_age ?? null, holders, oldestHeld) : 0;
  return {
    tableId,
    lag: {
      table: name,
      format_version: 2,
      chain_key_column: table.chainKey,
      status: drifted ? 'drifted' : 'attached',
      drift,
      head_seq: head.toString(),
      horizon_seq: horizon.toString(),
      horizon_at: horizonRow?.horizon_at ?? null,
      held_seconds: held,
      state: horizonState(behind, holders.length, workersAlive),
      holders,
      chains: chains.length,
      chains_with_pending: chains.filter((chain) => chain.lag.pending_rows > 0).length,
      pending_rows: pendingRows + unattributed,
      pending_rows_discovered: pendingRows - heldRows,
      held_rows: heldRows,
      pending_unattributed: unattributed,
      sealed_rows: chains.reduce((sum, chain) => sum + chain.lag.sealed_rows, 0),
    },
    oldest,
    chains,
  };
}

/** Whether pending row `a` was recorded before `b` (RFC 3339 UTC texts of one format compare as times); ties by chain_seq. */
export function isOlder(a: { recorded_at: string | null; chain_seq: string }, b: { recorded_at: string | null; chain_seq: string }): boolean {
  if (a.recorded_at === null) return false;
  if (b.recorded_at === null) return true;
  if (a.recorded_at !== b.recorded_at) return a.recorded_at < b.recorded_at;
  return BigInt(a.chain_seq) < BigInt(b.chain_seq);
}

/** Every attached table's figures, in registry order. */
export async function readAttachedTables(db: Queryable, workersAlive: number): Promise<AttachedTableReading[]> {
  const readings: AttachedTableReading[] = [];
  for (const table of await listChainedTables(db)) readings.push(await readAttachedTable(db, table, workersAlive));
  return readings;
}
