// `attach`: chains a product's own table in place. Steps, each recorded in
// audit_chain_tables.step so a rerun resumes where the last one stopped:
//   columns   (a moment's lock) add the chain columns, give new rows their
//             chain_seq from a sequence of ours, drop the hashing trigger(s);
//   number    give existing rows chain_seq 1..N in the plan's order, in batches
//             (live inserts go on: they already have theirs);
//   identity  (a moment's lock) make chain_seq NOT NULL and an identity column
//             continuing the sequence, so writers need no new privilege;
//   index     a BRIN index on chain_seq, built CONCURRENTLY (live inserts go
//             on): the sealer reads a chain's pending rows as a chain_seq
//             range above its watermark, retention and redaction find rows by
//             chain_seq (seq-index.ts says why BRIN);
//   grants    the sealer role: SELECT, UPDATE of the chain columns, and, under
//             row-level security, policies of its own; the signer role: SELECT
//             of chain_seq, checksum and chain key (it checks the row at a
//             head before signing it); the product's grants and policies are
//             not touched;
//   attached  the covered column set recorded as revision 1 of the chain's history.
import { splitTableName } from '../adoption/plan.ts';
import type pg from 'pg';
import { TABLE_COLUMNS_SQL, UnsupportedColumnTypeError, assertCoverable, type TableColumn } from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { chainColumnsOf, columnDrift, listChainedTables } from '@audit-chain/sealing';
import { LifecycleError } from '../errors.ts';
import { quoteIdent, roleName } from '../roles.ts';
import { inspectTable, quoteQualified } from './inspect.ts';
import { createSeqIndex } from './seq-index.ts';
import { LIVE_SEQ_START, describePlan, identitySequenceName, planAttach, type AttachOptions, type AttachPlan } from './plan.ts';

export type AttachStep = 'columns' | 'number' | 'identity' | 'index' | 'grants' | 'attached';
const STEPS: AttachStep[] = ['columns', 'number', 'identity', 'index', 'grants', 'attached'];

export interface AttachRunOptions extends AttachOptions {
  dryRun?: boolean;
  batchSize?: number;
  /** lock_timeout of the two short locking steps; retried until they get the lock. */
  lockTimeoutMs?: number;
  onProgress?: (progress: { step: AttachStep; numbered: number; total: number }) => void;
}

export interface AttachReport {
  plan: AttachPlan;
  lines: string[];
  tableId: number | null;
  resumed: boolean;
  done: boolean;
}

interface Registered {
  id: number;
  status: string;
  step: AttachStep;
  plan: AttachPlan;
}

export async function attachTable(pool: pg.Pool, options: AttachRunOptions): Promise<AttachReport> {
  const registered = await findRegistered(pool, options.table);
  if (registered && registered.status !== 'attaching') {
    if (registered.status === 'drifted') throw new LifecycleError(`${registered.plan.schema}.${registered.plan.table} drifted: its columns changed; attach --refresh confirms the new column set`);
    throw new LifecycleError(`${registered.plan.schema}.${registered.plan.table} is attached already (status ${registered.status}); attach --refresh confirms a changed column set`);
  }
  if (registered) {
    // Started: follow the recorded plan; options may only repeat it.
    const changed = differences(registered.plan, options);
    if (changed.length) throw new LifecycleError(`attach of ${registered.plan.table} has started with another plan (${changed.join('; ')}): rerun it without those options to resume`);
    const lines = [`resuming attach of ${registered.plan.schema}.${registered.plan.table} at step ${registered.step}`, ...describePlan(registered.plan)];
    if (options.dryRun) return { plan: registered.plan, lines, tableId: registered.id, resumed: true, done: false };
    await runSteps(pool, registered.id, registered.plan, registered.step, options);
    return { plan: registered.plan, lines, tableId: registered.id, resumed: true, done: true };
  }

  const inspection = await inspectTable(pool, options.table);
  if (inspection.citus !== null) throw new LifecycleError(citusRefusal(`${inspection.schema}.${inspection.table}`, inspection.citus));
  const plan = await planAttach(pool, inspection, options);
  const lines = describePlan(plan);
  if (options.dryRun) return { plan, lines, tableId: null, resumed: false, done: false };
  if (plan.problems.length) throw new LifecycleError(`attach refused, nothing changed: ${plan.problems.join('; ')}`);
  const tableId = await record(pool, plan);
  await runSteps(pool, tableId, plan, 'columns', options);
  return { plan, lines, tableId, resumed: false, done: true };
}

/**
 * attach on a table Citus manages is refused before anything changes: found by
 * trying it on the Citus test cluster (test/citus/attach.test.ts), numbering
 * the existing rows is an UPDATE joined on ctid across shards, which Citus
 * refuses ("cannot perform distributed planning for the given modification");
 * and the attached table's safe horizon (packages/sealing/src/attached-tables.ts)
 * reads the coordinator's RowExclusiveLock holders only, not the transactions
 * left prepared on a worker, which the horizon of audit_logs lists on Citus.
 */
export function citusRefusal(table: string, kind: string): string {
  return (
    `attach refused, nothing changed: ${table} is ${kind.startsWith('a ') ? kind : `a Citus table ${kind}`}, and attach supports plain tables only ` +
    `(numbering its rows is an UPDATE Citus cannot plan across shards, and an attached table's safe horizon does not list the writers prepared on the workers): ` +
    `write these events to audit_chain.audit_logs, which audit-chain distributes and seals on Citus, or attach the table while it is a plain table on the coordinator ` +
    `(undistribute_table('${table.replaceAll("'", "''")}')) and keep it there`
  );
}

function differences(plan: AttachPlan, options: AttachOptions): string[] {
  const out: string[] = [];
  if (options.orgColumn !== undefined && options.orgColumn !== plan.chainKey) out.push(`--org-column ${plan.chainKey ?? '(none)'}`);
  if (options.orderBy && options.orderBy.some((name, n) => plan.orderBy[n] !== name)) out.push(`--order-by ${plan.orderBy.join(',')}`);
  const personal = plan.covered.filter((column) => column.personal).map((column) => column.name);
  if (options.pii && options.pii.join(',') !== personal.join(',')) out.push(`--pii ${personal.join(',')}`);
  if (options.exclude && options.exclude.join(',') !== plan.excluded.join(',')) out.push(`--exclude ${plan.excluded.join(',')}`);
  return out;
}

async function findRegistered(db: pg.Pool, name: string): Promise<Registered | null> {
  // The same lookup as inspectTable: names as stored (or double-quoted), the search path for a bare name.
  const { schema, table } = splitTableName(name);
  const inspection = await db.query<{ schema: string; table: string }>(
    `select n.nspname as schema, c.relname as table from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relname = $1 and ($2::text is null and c.oid = to_regclass(quote_ident($1)) or n.nspname = $2)`,
    [table, schema],
  );
  const relation = inspection.rows[0];
  if (!relation) return null;
  const found = await db.query<{ id: number; status: string; step: AttachStep; plan: AttachPlan }>(
    'select id, status, step, plan from audit_chain_tables where schema_name = $1 and table_name = $2',
    [relation.schema, relation.table],
  );
  return found.rows[0] ?? null;
}

async function record(pool: pg.Pool, plan: AttachPlan): Promise<number> {
  const c = plan.chainColumns;
  const result = await pool.query<{ id: number }>(
    `insert into audit_chain_tables (schema_name, table_name, chain_key_column, order_by, seq_column, prev_column, checksum_column,
       version_column, pii_digest_column, pii_salt_column, excluded_columns, format_version, status, step, plan, dropped_triggers)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 2, 'attaching', 'columns', $12, $13)
     returning id`,
    [plan.schema, plan.table, plan.chainKey, plan.orderBy, c.seq, c.prev, c.checksum, c.version, c.piiDigest, c.piiSalt, plan.excluded,
      JSON.stringify(plan), JSON.stringify(plan.dropTriggers)],
  );
  return result.rows[0]!.id;
}

async function runSteps(pool: pg.Pool, tableId: number, plan: AttachPlan, from: AttachStep, options: AttachRunOptions): Promise<void> {
  for (const step of STEPS.slice(STEPS.indexOf(from))) {
    options.onProgress?.({ step, numbered: 0, total: plan.rows });
    if (step === 'columns') await addColumns(pool, tableId, plan, options);
    if (step === 'number') await numberExistingRows(pool, tableId, plan, options);
    if (step === 'identity') await makeIdentity(pool, tableId, plan, options);
    if (step === 'index') {
      await createSeqIndex(pool, tableId, plan.schema, plan.table, plan.chainColumns.seq);
      await setStep(pool, tableId, 'grants');
    }
    if (step === 'grants') await grantSealer(pool, tableId, plan);
    if (step === 'attached') await finish(pool, tableId, plan);
  }
}

/** The sequence that numbers live rows until chain_seq becomes an identity column. */
function liveSequence(tableId: number): string {
  return `audit_chain.attach_${tableId}_seq`;
}

async function withShortLock(pool: pg.Pool, options: AttachRunOptions, work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await withTransaction(pool, async (client) => {
        await client.query(`set local lock_timeout = ${Math.max(1, options.lockTimeoutMs ?? 2000)}`);
        await work(client);
      });
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03' || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * attempt)));
    }
  }
}

async function setStep(client: Pick<pg.ClientBase, 'query'>, tableId: number, step: AttachStep): Promise<void> {
  await client.query('update audit_chain_tables set step = $2 where id = $1', [tableId, step]);
}

async function addColumns(pool: pg.Pool, tableId: number, plan: AttachPlan, options: AttachRunOptions): Promise<void> {
  const table = quoteQualified(plan.schema, plan.table);
  const c = plan.chainColumns;
  await withShortLock(pool, options, async (client) => {
    await client.query(`create sequence if not exists ${liveSequence(tableId)} as bigint start with ${LIVE_SEQ_START + 1n} cache 1`);
    // Writers of the product's table need nextval until the identity step; the
    // sequence numbers nothing else, so anyone may draw from it meanwhile.
    await client.query(`grant usage on sequence ${liveSequence(tableId)} to public`);
    await client.query(`lock table ${table} in access exclusive mode`);
    await client.query(
      `alter table ${table} add column ${quoteIdent(c.seq)} bigint, add column ${quoteIdent(c.prev)} text, add column ${quoteIdent(c.checksum)} text,
         add column ${quoteIdent(c.version)} smallint, add column ${quoteIdent(c.piiDigest)} text, add column ${quoteIdent(c.piiSalt)} text`,
    );
    await client.query(`alter table ${table} alter column ${quoteIdent(c.seq)} set default nextval('${liveSequence(tableId)}'::regclass)`);
    for (const trigger of plan.dropTriggers) await client.query(`drop trigger ${quoteIdent(trigger.name)} on ${table}`);
    await setStep(client, tableId, 'number');
  });
}

async function numberExistingRows(pool: pg.Pool, tableId: number, plan: AttachPlan, options: AttachRunOptions): Promise<void> {
  const table = quoteQualified(plan.schema, plan.table);
  const seq = quoteIdent(plan.chainColumns.seq);
  const order = plan.orderBy.map((name) => `${quoteIdent(name)} nulls last`).join(', ');
  const batch = options.batchSize ?? 5000;
  let numbered = Number((await pool.query<{ n: string }>(`select count(*)::text as n from ${table} where ${seq} < ${LIVE_SEQ_START + 1n}`)).rows[0]!.n);
  for (;;) {
    const updated = await withTransaction(pool, async (client) => {
      const result = await client.query(
        `with base as (select coalesce(max(${seq}), 0) as n from ${table} where ${seq} <= ${LIVE_SEQ_START}),
              next as (select ctid, row_number() over (order by ${order}) as rn from ${table} where ${seq} is null order by ${order} limit ${batch})
         update ${table} t set ${seq} = base.n + next.rn from next, base where t.ctid = next.ctid`,
      );
      return result.rowCount ?? 0;
    });
    numbered += updated;
    options.onProgress?.({ step: 'number', numbered, total: plan.rows });
    if (updated < batch) break;
  }
  await pool.query(`alter table ${table} add constraint audit_chain_seq_not_null_${tableId} check (${seq} is not null) not valid`).catch((error: { code?: string }) => {
    if (error.code !== '42710') throw error;
  });
  await pool.query(`alter table ${table} validate constraint audit_chain_seq_not_null_${tableId}`);
  await setStep(pool, tableId, 'identity');
}

async function makeIdentity(pool: pg.Pool, tableId: number, plan: AttachPlan, options: AttachRunOptions): Promise<void> {
  const table = quoteQualified(plan.schema, plan.table);
  const seq = quoteIdent(plan.chainColumns.seq);
  await withShortLock(pool, options, async (client) => {
    await client.query(`lock table ${table} in access exclusive mode`);
    const last = await client.query<{ next: string }>(`select (coalesce(max(last_value), ${LIVE_SEQ_START}) + 1)::text as next from ${liveSequence(tableId)}`);
    await client.query(`alter table ${table} alter column ${seq} set not null, alter column ${seq} drop default`);
    await client.query(`alter table ${table} drop constraint audit_chain_seq_not_null_${tableId}`);
    await client.query(
      `alter table ${table} alter column ${seq} add generated always as identity (sequence name ${identitySequenceName(plan.schema, plan.table)} start with ${last.rows[0]!.next} cache 1)`,
    );
    await client.query(`drop sequence ${liveSequence(tableId)}`);
    await setStep(client, tableId, 'index');
  });
}

async function grantSealer(pool: pg.Pool, tableId: number, plan: AttachPlan): Promise<void> {
  const table = quoteQualified(plan.schema, plan.table);
  const c = plan.chainColumns;
  await withTransaction(pool, async (client) => {
    const sealer = quoteIdent(await roleName(client, 'sealer'));
    const admin = quoteIdent(await roleName(client, 'admin'));
    const signer = quoteIdent(await roleName(client, 'signer'));
    await client.query(`grant usage on schema ${quoteIdent(plan.schema)} to ${sealer}, ${admin}, ${signer}`);
    const signerReads = [c.seq, c.checksum, ...(plan.chainKey === null ? [] : [plan.chainKey])];
    await client.query(`grant select (${signerReads.map(quoteIdent).join(', ')}) on ${table} to ${signer}`);
    await client.query(`grant select on ${table} to ${sealer}, ${admin}`);
    await client.query(`grant update (${[c.prev, c.checksum, c.version, c.piiDigest, c.piiSalt].map(quoteIdent).join(', ')}) on ${table} to ${sealer}`);
    await client.query(`grant select on sequence ${identitySequenceName(plan.schema, plan.table)} to ${sealer}, ${admin}`);
    if (plan.rowSecurity.enabled) {
      // Policies for our roles only: the product's roles see exactly what they saw.
      await client.query(`drop policy if exists audit_chain_sealer_read on ${table}`);
      await client.query(`drop policy if exists audit_chain_sealer_seal on ${table}`);
      await client.query(`drop policy if exists audit_chain_admin_read on ${table}`);
      await client.query(`drop policy if exists audit_chain_signer_read on ${table}`);
      await client.query(`create policy audit_chain_sealer_read on ${table} for select to ${sealer} using (true)`);
      await client.query(`create policy audit_chain_sealer_seal on ${table} for update to ${sealer} using (true) with check (true)`);
      await client.query(`create policy audit_chain_admin_read on ${table} for select to ${admin} using (true)`);
      await client.query(`create policy audit_chain_signer_read on ${table} for select to ${signer} using (true)`);
    }
    await setStep(client, tableId, 'attached');
  });
}

async function finish(pool: pg.Pool, tableId: number, plan: AttachPlan): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query(
      `insert into audit_chain_table_columns (table_id, revision, effective_from_seq, covered, reason)
       values ($1, 1, 0, $2, 'attach') on conflict do nothing`,
      [tableId, JSON.stringify(plan.covered)],
    );
    await client.query("update audit_chain_tables set status = 'attached', step = null, attached_at = now() where id = $1", [tableId]);
  });
}

/**
 * `attach --refresh`: confirms a drifted table's current columns as its new
 * covered set, recorded as the next revision of the chain's history, effective
 * from the first chain_seq above every chain's watermark (rows sealed before
 * keep verifying under their revision). New columns are covered (personal:
 * `pii`; `exclude` adds to the excluded ones).
 */
export async function refreshAttachedTable(pool: pg.Pool, options: { table: string; pii?: string[]; exclude?: string[]; dryRun?: boolean }): Promise<{ lines: string[]; revision: number | null }> {
  const registered = await findRegistered(pool, options.table);
  if (!registered) throw new LifecycleError(`--refresh: ${options.table} is not an attached table`);
  if (registered.status === 'attaching') throw new LifecycleError(`--refresh: the attach of ${options.table} has not finished: run attach again to resume it`);
  const table = (await listChainedTables(pool)).find((candidate) => candidate.id === registered.id);
  if (!table) throw new LifecycleError(`--refresh: ${options.table} is not an attached table of format v2`);
  const drift = await columnDrift(pool, table);
  // Tables attached before attach built the chain_seq index get it here.
  const indexed = options.dryRun ? [] : await createSeqIndex(pool, table.id, table.schema, table.table, table.seqColumn);
  if (drift.length === 0 && !options.exclude?.length && !options.pii?.length) return { lines: [...indexed, `${table.schema}.${table.table}: the columns are the confirmed set; nothing to refresh`], revision: null };
  const excluded = [...table.excluded, ...(options.exclude ?? [])];
  const previous = table.revisions.at(-1)!.covered;
  const columns = (await pool.query<TableColumn>(TABLE_COLUMNS_SQL, [quoteQualified(table.schema, table.table)])).rows.filter(
    (column) => !chainColumnsOf(table).includes(column.name) && !excluded.includes(column.name),
  );
  for (const column of columns) {
    try {
      assertCoverable(column);
    } catch (error) {
      if (error instanceof UnsupportedColumnTypeError) throw new LifecycleError(`--refresh: ${error.message}`);
      throw error;
    }
  }
  const covered = columns.map((column) => ({
    name: column.name,
    type: column.type,
    personal: (options.pii ?? []).includes(column.name) || (previous.find((old) => old.name === column.name)?.personal ?? false),
    ...(column.base !== column.type ? { base: column.base } : {}),
  }));
  const lines = [...drift.map((change) => `${table.schema}.${table.table}: ${change}`), `new covered set: ${covered.map((column) => `${column.name} ${column.type}${column.personal ? ' (personal)' : ''}`).join(', ')}`];
  if (options.dryRun) return { lines, revision: null };
  const revision = await withTransaction(pool, async (client) => {
    await client.query('select 1 from audit_chain_tables where id = $1 for update', [table.id]);
    const from = await client.query<{ from_seq: string }>(
      `select (greatest(coalesce(max(watermark_seq), 0), $2::bigint - 1) + 1)::text as from_seq from audit_chain_table_state where table_id = $1`,
      [table.id, table.revisions.at(-1)!.effectiveFromSeq.toString()],
    );
    const next = table.revisions.at(-1)!.revision + 1;
    await client.query(
      `insert into audit_chain_table_columns (table_id, revision, effective_from_seq, covered, reason) values ($1, $2, $3, $4, $5)`,
      [table.id, next, from.rows[0]!.from_seq, JSON.stringify(covered), `attach --refresh: ${drift.join('; ') || 'exclusions or personal columns changed'}`],
    );
    await client.query("update audit_chain_tables set status = 'attached', drift = null, excluded_columns = $2 where id = $1", [table.id, excluded]);
    return next;
  });
  return { lines: [...lines, `recorded as revision ${revision} of the chain's column set`], revision };
}
