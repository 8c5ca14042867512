// Retention of an attached table (audit-chain retain --table T): deletes, per
// chain, a prefix of its oldest rows, by the age a covered time column of the
// product's table gives them (--time-column, else the table's first --order-by
// column when it is a timestamp). As for audit_logs (retain.ts), per cut:
//   1. the cut: the last row of the longest prefix of the chain whose times are
//      all before the limit, strictly below the watermark (the head row stays),
//      at most `batchRows` rows;
//   2. a checkpoint of the attached chain (schema, table, chain key, chain_seq,
//      sealed_count, checksum: a version 2 checkpoint, @audit-chain/chain checkpoint.ts) is
//      signed and written to every sink; a sink failing stops the chain;
//   3. in one transaction as the retention role: the signed line is verified
//      against the keyring, then audit_chain_retain_attached_prefix()
//      (drizzle/0052) checks it against the table again, records the cut with
//      the line, and deletes the chain's rows up to and including it.
// Verification then starts the chain after its latest cut (verify-attached.ts).
import type pg from 'pg';
import { checkpointLine, quoteIdent, signTableCheckpoint, verifyCheckpointSignature, type CheckpointPublicKey, type CheckpointSigner, type SignedTableCheckpoint } from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { qualifiedName, type ChainedTable } from '@audit-chain/sealing';
import { LifecycleError } from '../errors.ts';
import { actAs } from '../roles.ts';
import { findAttachedTable } from '../attached-table.ts';
import type { RetentionSink } from './retain.ts';

export interface RetainAttachedOptions {
  table: string;
  /** The product's column that tells a row's age; default: the first --order-by column of the attach, if a timestamp. */
  timeColumn?: string;
  olderThan: Date;
  batchRows?: number;
  /** One chain only (its key as text; null: the chain of rows without a key). */
  chainKey?: string | null;
  dryRun?: boolean;
  signer?: CheckpointSigner | null;
  keyring?: readonly CheckpointPublicKey[] | null;
  sinks?: readonly RetentionSink[];
  now?: () => Date;
  onCut?: (cut: AttachedRetentionCut) => void;
}

export interface AttachedRetentionCut {
  /** "schema.table chain <key>", as every command names a chain. */
  chain: string;
  chainKey: string | null;
  cutSeq: string;
  rows: number;
  checkpoint: SignedTableCheckpoint | null;
}

export interface AttachedRetainResult {
  table: string;
  timeColumn: string;
  chains: { chain: string; deleted: number; cuts: number; error: string | null }[];
  deleted: number;
  cuts: number;
  failed: number;
}

const TIME_TYPES = /^timestamp(\(\d\))? with(out)? time zone$/;

export async function retainAttachedTable(pool: pg.Pool, options: RetainAttachedOptions): Promise<AttachedRetainResult> {
  const table = await findAttachedTable(pool, options.table);
  const name = `${table.schema}.${table.table}`;
  const { column: timeColumn, zoned } = await resolveTimeColumn(pool, table, options.timeColumn);
  if (!options.dryRun) {
    if (!options.signer) throw new LifecycleError('retention needs the checkpoint signing key (AUDIT_CHAIN_SIGNING_KEY_FILE or AUDIT_CHAIN_SIGNING_KEY, with AUDIT_CHAIN_SIGNING_KEY_ID): rows are deleted only after a signed checkpoint at the cut');
    if (!options.keyring?.length) throw new LifecycleError('retention needs the keyring (AUDIT_CHAIN_KEYRING_FILE or --keyring): rows are deleted only at a checkpoint whose signature verifies under it');
    if (!options.sinks?.length) throw new LifecycleError('retention needs at least one checkpoint sink: the checkpoint at the cut must be kept outside the database');
  }
  const result: AttachedRetainResult = { table: name, timeColumn, chains: [], deleted: 0, cuts: 0, failed: 0 };
  const chains = await pool.query<{ chain_key: string | null }>(
    `select chain_key from audit_chain_table_state where table_id = $1 and watermark_seq > 0 ${options.chainKey === undefined ? '' : 'and chain_key is not distinct from $2'} order by chain_key nulls first`,
    options.chainKey === undefined ? [table.id] : [table.id, options.chainKey],
  );
  for (const { chain_key: chainKey } of chains.rows) {
    const chain = { chain: labelOf(table, chainKey), deleted: 0, cuts: 0, error: null as string | null };
    try {
      await retainChain(pool, table, chainKey, { column: timeColumn, zoned }, options, chain);
    } catch (error) {
      chain.error = (error as Error).message;
      result.failed += 1;
    }
    if (chain.cuts > 0 || chain.error) result.chains.push(chain);
    result.deleted += chain.deleted;
    result.cuts += chain.cuts;
  }
  return result;
}

function labelOf(table: ChainedTable, key: string | null): string {
  return `${table.schema}.${table.table} ${table.chainKey ? `chain ${key === null ? '(null key)' : key}` : 'chain (all rows)'}`;
}

/** The time column: named, or the attach's first order-by column; a covered timestamp either way. */
async function resolveTimeColumn(pool: pg.Pool, table: ChainedTable, named: string | undefined): Promise<TimeColumn> {
  const name = `${table.schema}.${table.table}`;
  let column = named;
  if (column === undefined) {
    const orderBy = (await pool.query<{ order_by: string[] }>('select order_by::text[] as order_by from audit_chain_tables where id = $1', [table.id])).rows[0]?.order_by ?? [];
    column = orderBy[0];
  }
  const type = column === undefined ? null : (await pool.query<{ type: string }>(
    'select format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = $1::regclass and attname = $2 and attnum > 0 and not attisdropped',
    [qualifiedName(table), column],
  )).rows[0]?.type ?? null;
  if (named === undefined && (type === null || !TIME_TYPES.test(type))) {
    throw new LifecycleError(`${name} has no time column to tell a row's age (its first --order-by column ${column ?? '(none)'} is not a timestamp): name one with --time-column`);
  }
  if (type === null) throw new LifecycleError(`--time-column: ${name} has no column ${column}`);
  if (!TIME_TYPES.test(type)) throw new LifecycleError(`--time-column: ${name}.${column} is ${type}, want a timestamp (with or without time zone)`);
  if (!table.revisions.every((revision) => revision.covered.some((covered) => covered.name === column))) {
    throw new LifecycleError(`--time-column: ${name}.${column} is not covered by the chain (excluded): a row's age must be a value its checksum commits to`);
  }
  return { column: column!, zoned: type.endsWith('with time zone') };
}

interface TimeColumn {
  column: string;
  /** timestamptz; otherwise a timestamp without time zone, read as UTC. */
  zoned: boolean;
}

async function retainChain(pool: pg.Pool, table: ChainedTable, chainKey: string | null, time: TimeColumn, options: RetainAttachedOptions, chain: AttachedRetainResult['chains'][number]): Promise<void> {
  const batchRows = options.batchRows ?? 50_000;
  let afterSeq = 0n;
  for (;;) {
    const found = (await pool.query<{ cut_seq: string | null; rows: number }>(findCut(table, chainKey, time, options.olderThan, options.dryRun ? Number.MAX_SAFE_INTEGER : batchRows))).rows[0];
    if (!found?.cut_seq || found.rows === 0) return;
    if (options.dryRun) {
      chain.cuts += 1;
      chain.deleted += found.rows;
      options.onCut?.({ chain: chain.chain, chainKey, cutSeq: found.cut_seq, rows: found.rows, checkpoint: null });
      return;
    }
    if (BigInt(found.cut_seq) <= afterSeq) throw new LifecycleError(`${chain.chain}: the cut did not advance (got chain_seq ${found.cut_seq} after cutting at ${afterSeq})`);
    const row = (await pool.query<{ checksum: string | null; sealed_count: string }>(readCutRow(table, chainKey, found.cut_seq))).rows[0];
    if (!row?.checksum) throw new LifecycleError(`${chain.chain}: row chain_seq ${found.cut_seq} has no checksum: only sealed rows can be cut`);
    const checkpoint = await signTableCheckpoint(
      { schema: table.schema, table: table.table, chain_key: chainKey, chain_seq: found.cut_seq, sealed_count: row.sealed_count, checksum: row.checksum, signed_at: (options.now ?? (() => new Date()))().toISOString() },
      options.signer!,
    );
    const exportedTo: Record<string, string> = {};
    for (const sink of options.sinks!) {
      try {
        await sink.write([checkpoint]);
      } catch (error) {
        throw new LifecycleError(`${chain.chain}: the checkpoint at chain_seq ${checkpoint.chain_seq} could not be exported to the ${sink.name} sink (${sink.target}): ${(error as Error).message}; nothing deleted`);
      }
      exportedTo[sink.name] = new Date().toISOString();
    }
    const line = JSON.parse(checkpointLine(checkpoint)) as unknown;
    const deleted = await withTransaction(pool, async (client) => {
      await actAs(client, 'retention');
      const verdict = verifyCheckpointSignature(line, options.keyring!);
      if (!verdict.ok) throw new LifecycleError(`${chain.chain}: the checkpoint at chain_seq ${checkpoint.chain_seq} is not one the keyring trusts (${verdict.reason}); nothing deleted`);
      const deletedRows = await client.query<{ deleted: string }>(
        'select audit_chain_retain_attached_prefix($1::integer, $2, $3::timestamptz, $4::jsonb, $5::jsonb)::text as deleted',
        [table.id, time.column, options.olderThan.toISOString(), JSON.stringify(line), JSON.stringify(exportedTo)],
      );
      return Number(deletedRows.rows[0]!.deleted);
    });
    if (deleted !== found.rows) throw new LifecycleError(`${chain.chain}: deleted ${deleted} rows up to chain_seq ${found.cut_seq}, want ${found.rows}`);
    chain.cuts += 1;
    chain.deleted += deleted;
    afterSeq = BigInt(found.cut_seq);
    options.onCut?.({ chain: chain.chain, chainKey, cutSeq: found.cut_seq, rows: deleted, checkpoint });
  }
}

function keyMatch(table: ChainedTable, placeholder: string): string {
  return table.chainKey ? `t.${quoteIdent(table.chainKey)}::text is not distinct from ${placeholder}` : `${placeholder}::text is null`;
}

/** A time without a zone is read as UTC, as the database function reads it. */
function youngExpression(time: TimeColumn, placeholder: string): string {
  const value = `t.${quoteIdent(time.column)}`;
  return time.zoned ? `(${value} is null or ${value} >= ${placeholder}::timestamptz)` : `(${value} is null or ${value} >= (${placeholder}::timestamptz at time zone 'UTC'))`;
}

/** The next cut of a chain (see the head of this file); the cost is the rows to delete plus the first young one. */
function findCut(table: ChainedTable, chainKey: string | null, time: TimeColumn, olderThan: Date, maxRows: number): { text: string; values: unknown[] } {
  const seq = `t.${quoteIdent(table.seqColumn)}`;
  return {
    text: `with state as (
             select watermark_seq from audit_chain_table_state where table_id = $1 and chain_key is not distinct from $2
           ), bound as (
             select least((select ${seq} from ${qualifiedName(table)} t, state
                            where ${keyMatch(table, '$2')} and ${seq} <= state.watermark_seq
                              and ${youngExpression(time, '$3')}
                            order by ${seq} limit 1),
                          (select watermark_seq from state)) as below
           ), prefix as (
             select ${seq} as seq from ${qualifiedName(table)} t, bound where ${keyMatch(table, '$2')} and ${seq} < bound.below order by ${seq} limit $4
           )
           select max(seq)::text as cut_seq, count(*)::int as rows from prefix`,
    values: [table.id, chainKey, olderThan.toISOString(), maxRows],
  };
}

/** The cut row's checksum and its position from the chain's genesis, in one snapshot. */
function readCutRow(table: ChainedTable, chainKey: string | null, cutSeq: string): { text: string; values: unknown[] } {
  const seq = `t.${quoteIdent(table.seqColumn)}`;
  return {
    text: `select (select t.${quoteIdent(table.checksumColumn)} from ${qualifiedName(table)} t where ${keyMatch(table, '$2')} and ${seq} = $3::bigint) as checksum,
                  (s.sealed_rows - (select count(*) from ${qualifiedName(table)} t where ${keyMatch(table, '$2')} and ${seq} > $3::bigint and ${seq} <= s.watermark_seq))::text as sealed_count
             from audit_chain_table_state s where s.table_id = $1 and s.chain_key is not distinct from $2`,
    values: [table.id, chainKey, cutSeq],
  };
}
