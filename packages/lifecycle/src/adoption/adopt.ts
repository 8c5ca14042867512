// Adoption (audit-chain adopt): takes over a legacy audit table whose rows were
// hashed at insert time by a trigger (often forked under concurrency) and makes
// its rows audit_logs rows, sealed under format v1. Phases, each resumable:
//   prepare  (one short transaction, a moment's lock on the legacy table): the
//            legacy insert-time hashing trigger is dropped, a capture trigger
//            queues every row inserted from now on, and the plan is recorded;
//   copy     historical rows (those present at prepare) in (timestamp, id)
//            order, then the captured live rows in insert order, in batches; each
//            batch and its cursor move in one transaction, so an interrupted run
//            resumes where it stopped and copies no row twice. Rows get their
//            chain_seq from the sequence, under the table lock, like any insert:
//            the safe horizon's argument holds unchanged, and the sealing worker
//            seals them as they come;
//   switch   (one short transaction): the last captured rows are copied, the
//            legacy table is renamed to <table>_adopted (kept with its old
//            checksums) and, when the rows kept their uuids, a view with the
//            legacy name and columns over audit_logs takes its place, with the
//            same grants, so the application keeps inserting without a change;
//   seal     waits until every adopted row is sealed (sealing runs here too),
//            then counts: legacy rows = adopted rows.
// The old checksums stay in audit_chain_legacy_links, beside the row they became.
import type pg from 'pg';
import { withTransaction } from '@audit-chain/db';
import { sealOnce } from '@audit-chain/sealing';
import { LifecycleError } from '../errors.ts';
import { quoteIdent } from '../roles.ts';
import { planAdoption, qualified, quoteLiteral, TARGET_COLUMNS, type AdoptionPlan, type PlanOptions, type TargetColumn } from './plan.ts';
import {
  copyCapturedBatch,
  copyHistoricalBatch,
  createOrderIndex,
  legacyCounts,
  legacyForks,
  legacyGrants,
  legacyInsertTriggers,
  orderIndexExists,
  orderIndexName,
  unsealedAdoptedRows,
} from './queries.ts';

export type AdoptionPhase = 'historical' | 'captured' | 'switch' | 'sealing';

export interface AdoptProgress {
  phase: AdoptionPhase;
  done: number;
  total: number;
}

export interface AdoptOptions extends PlanOptions {
  batchSize?: number;
  dryRun?: boolean;
  /** Create the compatibility view with the legacy name (default true when the rows keep their uuids). */
  view?: boolean;
  /** How long the prepare and switch transactions wait for their lock before giving up (and retrying). */
  lockTimeoutMs?: number;
  /** Stop waiting for sealing after this long (adoption is then finished by a later run). */
  sealTimeoutMs?: number;
  onProgress?: (progress: AdoptProgress) => void;
  onMessage?: (line: string) => void;
  /** Stops between batches (tests use it to interrupt a run). */
  signal?: AbortSignal;
}

export interface AdoptReport {
  source: string;
  plan: AdoptionPlan;
  status: 'planned' | 'copying' | 'switched' | 'done';
  resumed: boolean;
  legacyRows: number;
  adoptedRows: number;
  capturedRows: number;
  forks: { predecessors: number; rows: number; widest: number } | null;
  droppedTriggers: { name: string; definition: string }[];
  archiveTable: string | null;
  view: string | null;
  /** Adopted rows not sealed yet when adopt returned (0 when done). */
  pendingRows: number;
}

interface AdoptionRow {
  id: string;
  plan: AdoptionPlan;
  status: 'copying' | 'switched' | 'done';
  cursor_at: string | null;
  cursor_id: string | null;
  queue_cursor: string;
  archive_table: string | null;
  dropped_triggers: { name: string; definition: string }[] | null;
}

/** Session advisory lock per adopted table, so two adopt runs never work on one table at once. */
const ADOPT_LOCK_CLASS = 7_461_201;

export async function adoptTable(pool: pg.Pool, options: AdoptOptions): Promise<AdoptReport> {
  const batchSize = options.batchSize ?? 5000;
  const say = options.onMessage ?? (() => {});
  const lockClient = await pool.connect();
  try {
    // The adoption is recorded under the table's schema-qualified name, whichever way it was given
    // (after the switch the name is the compatibility view's).
    const resolved = await lockClient.query<{ name: string | null }>(
      `select n.nspname || '.' || c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = to_regclass($1)`,
      [options.table],
    );
    const source = resolved.rows[0]?.name ?? options.table;
    const locked = await lockClient.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [ADOPT_LOCK_CLASS, source]);
    if (!locked.rows[0]?.ok) throw new LifecycleError(`another audit-chain adopt is working on ${source}`);

    let adoption = await readAdoption(pool, source);
    const resumed = adoption !== null;
    const plan = adoption?.plan ?? (await planAdoption(pool, options));
    const report: AdoptReport = {
      source,
      plan,
      status: adoption?.status ?? 'planned',
      resumed,
      legacyRows: 0,
      adoptedRows: 0,
      capturedRows: 0,
      forks: null,
      droppedTriggers: adoption?.dropped_triggers ?? [],
      archiveTable: adoption?.archive_table ?? null,
      view: null,
      pendingRows: 0,
    };
    const liveTable = adoption?.archive_table ? { ...plan, table: adoption.archive_table } : plan;
    const forks = legacyForks(liveTable);
    if (forks) report.forks = (await pool.query<{ predecessors: number; rows: number; widest: number }>(forks)).rows[0]!;
    await refreshCounts(pool, liveTable, adoption ? Number(adoption.id) : 0, report);

    if (!adoption) {
      const nulls = await pool.query<{ n: number }>(`select count(*)::int as n from ${qualified(plan)} where ${quoteIdent(plan.orderColumn)} is null`);
      if (nulls.rows[0]!.n > 0) throw new LifecycleError(`${nulls.rows[0]!.n} legacy rows have no ${plan.orderColumn}: adoption orders rows by it; fill it in first`);
      report.droppedTriggers = (await pool.query<{ name: string; definition: string }>(legacyInsertTriggers(plan))).rows;
      if (options.dryRun) return report;
      if (!(await pool.query<{ present: boolean }>(orderIndexExists(plan))).rows[0]!.present) {
        say(`creating index ${orderIndexName(plan)} on ${plan.table} (${plan.orderColumn}, ${plan.idColumn}) concurrently, for the ordered copy`);
        await pool.query(createOrderIndex(plan));
      }
      adoption = await prepare(pool, source, plan, options.lockTimeoutMs ?? 5000);
      say(`dropped ${adoption.dropped_triggers?.length ?? 0} legacy insert trigger(s); live inserts into ${plan.table} are captured from now on`);
      report.droppedTriggers = adoption.dropped_triggers ?? [];
    } else if (options.dryRun) {
      return report;
    }
    const adoptionId = Number(adoption.id);

    if (adoption.status === 'copying') {
      await refreshCounts(pool, plan, adoptionId, report);
      await copyHistorical(pool, plan, adoption, batchSize, report, options);
      await copyCaptured(pool, plan, adoption, batchSize, report, options, false);
      adoption = await switchOver(pool, plan, adoption, batchSize, report, options);
      say(`switched: ${plan.table} is now ${adoption.archive_table}${report.view ? `, and ${report.view} is a view over audit_logs` : ''}`);
    }
    report.archiveTable = adoption.archive_table;
    report.status = adoption.status;

    if (adoption.status === 'switched') {
      report.pendingRows = await sealAdopted(pool, adoptionId, options);
      await refreshCounts(pool, { ...plan, table: adoption.archive_table! }, adoptionId, report);
      if (report.adoptedRows !== report.legacyRows) {
        throw new LifecycleError(`adopted ${report.adoptedRows} rows, but the legacy table ${adoption.archive_table} holds ${report.legacyRows}: rows were written to it after the switch`);
      }
      if (report.pendingRows === 0) {
        await pool.query("update audit_chain_adoptions set status = 'done', finished_at = now(), updated_at = now() where id = $1", [adoptionId]);
        report.status = 'done';
      }
    } else if (adoption.status === 'done') {
      await refreshCounts(pool, { ...plan, table: adoption.archive_table! }, adoptionId, report);
    }
    return report;
  } finally {
    await lockClient.query('select pg_advisory_unlock_all()').catch(() => {});
    lockClient.release();
  }
}

async function readAdoption(db: Pick<pg.ClientBase, 'query'>, source: string): Promise<AdoptionRow | null> {
  const result = await db.query<AdoptionRow>(
    `select id::text, plan, status, to_char(cursor_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at, cursor_id,
            queue_cursor::text, archive_table, dropped_triggers
       from audit_chain_adoptions where source_table = $1`,
    [source],
  );
  return result.rows[0] ?? null;
}

async function refreshCounts(pool: pg.Pool, plan: AdoptionPlan, adoptionId: number, report: AdoptReport): Promise<void> {
  const counts = (await pool.query<{ legacy_rows: string; adopted_rows: string; captured_rows: string }>(legacyCounts(plan, adoptionId))).rows[0]!;
  report.legacyRows = Number(counts.legacy_rows);
  report.adoptedRows = Number(counts.adopted_rows);
  report.capturedRows = Number(counts.captured_rows);
}

async function prepare(pool: pg.Pool, source: string, plan: AdoptionPlan, lockTimeoutMs: number): Promise<AdoptionRow> {
  return withTransaction(pool, async (client) => {
    await client.query(`set local lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
    // Waits for the inserts in flight (every row committed before this is historical) and holds new ones for a moment.
    await client.query(`lock table ${qualified(plan)} in share row exclusive mode`);
    const triggers = (await client.query<{ name: string; definition: string }>(legacyInsertTriggers(plan))).rows;
    const created = await client.query<{ id: string }>(
      'insert into audit_chain_adoptions (source_table, plan, dropped_triggers) values ($1, $2, $3) returning id::text',
      [source, JSON.stringify(plan), JSON.stringify(triggers)],
    );
    const id = created.rows[0]!.id;
    for (const trigger of triggers) await client.query(`drop trigger ${quoteIdent(trigger.name)} on ${qualified(plan)}`);
    await client.query(
      `create trigger audit_chain_adoption_capture after insert on ${qualified(plan)}
         referencing new table as captured_rows
         for each statement execute function audit_chain_adoption_capture(${quoteLiteral(id)}, ${quoteLiteral(plan.idColumn)})`,
    );
    return (await readAdoption(client, source))!;
  });
}

async function copyHistorical(pool: pg.Pool, plan: AdoptionPlan, adoption: AdoptionRow, batchSize: number, report: AdoptReport, options: AdoptOptions): Promise<void> {
  const adoptionId = Number(adoption.id);
  let after = adoption.cursor_at && adoption.cursor_id ? { at: adoption.cursor_at, id: adoption.cursor_id } : null;
  const total = report.legacyRows - report.capturedRows;
  let done = report.adoptedRows;
  options.onProgress?.({ phase: 'historical', done, total });
  while (true) {
    options.signal?.throwIfAborted();
    const copied = await withTransaction(pool, async (client) => {
      const result = (await client.query<{ copied: number; last_at: string | null; last_id: string | null }>(copyHistoricalBatch(plan, adoptionId, after, batchSize))).rows[0]!;
      if (result.copied > 0) {
        await client.query(
          'update audit_chain_adoptions set cursor_at = $2, cursor_id = $3, copied_rows = copied_rows + $4, updated_at = now() where id = $1',
          [adoptionId, result.last_at, result.last_id, result.copied],
        );
      }
      return result;
    });
    if (copied.copied === 0) return;
    after = { at: copied.last_at!, id: copied.last_id! };
    done += copied.copied;
    options.onProgress?.({ phase: 'historical', done, total: Math.max(total, done) });
  }
}

/** Copies captured rows until none is left (or, unless `all`, until fewer than a batch remain for the switch). */
async function copyCaptured(
  pool: pg.Pool | pg.PoolClient,
  plan: AdoptionPlan,
  adoption: AdoptionRow,
  batchSize: number,
  report: AdoptReport,
  options: AdoptOptions,
  inSwitch: boolean,
): Promise<void> {
  const adoptionId = Number(adoption.id);
  let afterSeq = Number((await pool.query<{ queue_cursor: string }>('select queue_cursor::text from audit_chain_adoptions where id = $1', [adoptionId])).rows[0]!.queue_cursor);
  while (true) {
    if (!inSwitch) options.signal?.throwIfAborted();
    const step = async (client: Pick<pg.ClientBase, 'query'>) => {
      const result = (await client.query<{ copied: number; last_seq: string | null }>(copyCapturedBatch(plan, adoptionId, afterSeq, batchSize))).rows[0]!;
      if (result.last_seq !== null) {
        await client.query('update audit_chain_adoptions set queue_cursor = $2, copied_rows = copied_rows + $3, updated_at = now() where id = $1', [
          adoptionId,
          result.last_seq,
          result.copied,
        ]);
      }
      return result;
    };
    const result = inSwitch ? await step(pool) : await withTransaction(pool as pg.Pool, step);
    if (result.last_seq === null) return;
    afterSeq = Number(result.last_seq);
    const counts = (await pool.query<{ remaining: string; copied: string; captured: string }>(
      `select (select count(*) from audit_chain_adoption_queue where adoption_id = $1 and seq > $2)::text as remaining,
              (select count(*) from audit_chain_adoption_queue where adoption_id = $1)::text as captured,
              (select count(*) from audit_chain_legacy_links where adoption_id = $1)::text as copied`,
      [adoptionId, afterSeq],
    )).rows[0]!;
    options.onProgress?.({ phase: 'captured', done: Number(counts.copied), total: report.legacyRows - report.capturedRows + Number(counts.captured) });
    // Outside the switch, leave the last few for it: they are copied under its lock, so none can be missed.
    if (!inSwitch && Number(counts.remaining) < batchSize) return;
  }
}

async function switchOver(pool: pg.Pool, plan: AdoptionPlan, adoption: AdoptionRow, batchSize: number, report: AdoptReport, options: AdoptOptions): Promise<AdoptionRow> {
  const archive = `${plan.table}_adopted`.slice(0, 63);
  const wantView = (options.view ?? true) && plan.keepsIds;
  options.onProgress?.({ phase: 'switch', done: 0, total: 1 });
  const result = await withTransaction(pool, async (client) => {
    await client.query(`set local lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs ?? 5000))}`);
    // The moment live inserts wait: they queue behind this lock and then, resolving the name
    // again, land in the view (audit_logs).
    await client.query(`lock table ${qualified(plan)} in access exclusive mode`);
    await copyCaptured(client, plan, adoption, batchSize, report, options, true);
    const grants = (await client.query<{ grantee: string; privilege: string }>(legacyGrants(plan))).rows;
    await client.query(`drop trigger audit_chain_adoption_capture on ${qualified(plan)}`);
    await client.query(`alter table ${qualified(plan)} rename to ${quoteIdent(archive)}`);
    if (wantView) {
      await client.query(compatibilityView(plan));
      for (const [target, source] of Object.entries(plan.columns) as [TargetColumn, NonNullable<AdoptionPlan['columns'][TargetColumn]>][]) {
        if ('literal' in source && source.literal !== null) {
          await client.query(`alter view ${qualified(plan)} alter column ${quoteIdent(target)} set default ${quoteLiteral(source.literal)}::${TARGET_COLUMNS[target]}`);
        }
      }
      for (const grant of grants) await client.query(`grant ${grant.privilege} on ${qualified(plan)} to ${grant.grantee}`);
    }
    await client.query("update audit_chain_adoptions set status = 'switched', archive_table = $2, switched_at = now(), updated_at = now() where id = $1", [
      Number(adoption.id),
      archive,
    ]);
    return (await readAdoption(client, report.source))!;
  });
  report.view = wantView ? `${plan.schema}.${plan.table}` : null;
  options.onProgress?.({ phase: 'switch', done: 1, total: 1 });
  return result;
}

/**
 * The legacy table's name and columns over audit_logs, so the application's
 * INSERTs and SELECTs keep working: each legacy column that became an audit_logs
 * column appears under its legacy name; columns filled with a constant appear
 * under their audit_logs name with that constant as default. The legacy checksum
 * columns are not there: the chain columns are written by the sealer only.
 */
export function compatibilityView(plan: AdoptionPlan): string {
  const select: string[] = [];
  const named = new Set<string>();
  for (const target of Object.keys(TARGET_COLUMNS) as TargetColumn[]) {
    const source = plan.columns[target];
    if (!source) continue;
    const name = 'column' in source ? source.column : target;
    if (named.has(name)) continue;
    named.add(name);
    select.push(`a.${quoteIdent(target)} as ${quoteIdent(name)}`);
  }
  return `create view ${qualified(plan)} as select ${select.join(', ')} from audit_logs a`;
}

/** Seals until every adopted row is sealed or the timeout passes; returns the adopted rows still pending. */
async function sealAdopted(pool: pg.Pool, adoptionId: number, options: AdoptOptions): Promise<number> {
  const deadline = Date.now() + (options.sealTimeoutMs ?? 600_000);
  const total = Number((await pool.query<{ n: string }>('select count(*)::text as n from audit_chain_legacy_links where adoption_id = $1', [adoptionId])).rows[0]!.n);
  while (true) {
    const pending = (await pool.query<{ chains: number; rows: string; halted: number }>(unsealedAdoptedRows(adoptionId))).rows[0]!;
    options.onProgress?.({ phase: 'sealing', done: total - Number(pending.rows), total });
    if (Number(pending.rows) === 0) return 0;
    if (pending.halted > 0) throw new LifecycleError(`${pending.halted} adopted chain(s) are halted on a broken invariant: see \`audit-chain lag\``);
    if (Date.now() > deadline) return Number(pending.rows);
    options.signal?.throwIfAborted();
    const result = await sealOnce(pool, { batchSize: options.batchSize ?? 5000, waitMs: 2000, pollMs: 50 });
    if (result.broken.length > 0) throw new LifecycleError(`sealing adopted rows halted ${result.broken.length} chain(s): ${result.broken[0]!.message}`);
  }
}
