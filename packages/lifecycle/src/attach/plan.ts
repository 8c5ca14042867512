// The plan `attach` follows for one table, computed from the table as it is
// and the operator's options, and checked in full before anything changes: a
// dry run prints it, a real run records it when it starts and follows the
// recorded plan from then on (resumable, no longer changeable).
import type pg from 'pg';
import { quoteIdent } from '../roles.ts';
import { CanonicalFormError, TABLE_COLUMNS_SQL, UnsupportedColumnTypeError, assertCoverable, formatV2Layout, selectListV2, valuesFromResult, type TableColumn as V2Column } from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { LIVE_SEQ_START } from '@audit-chain/sealing';
import { quoteQualified, type TableInspection } from './inspect.ts';


/** The columns attach adds, under names of ours (a product's own checksum/prev_checksum stay its content). */
export const CHAIN_COLUMNS = {
  seq: 'audit_chain_seq',
  prev: 'audit_chain_prev',
  checksum: 'audit_chain_checksum',
  version: 'audit_chain_version',
  piiDigest: 'audit_chain_pii_digest',
  piiSalt: 'audit_chain_pii_salt',
} as const;

// Existing rows get chain_seq 1..N in the chosen order; rows written from the
// attach on take theirs from the table's sequence, which starts above every
// number the existing rows can take (defined with the sealer, whose lag
// figures skip the values in between).
export { LIVE_SEQ_START } from '@audit-chain/sealing';

/** The identity sequence of an attached table's chain_seq; PostgreSQL keeps it in the table's schema. */
export function identitySequenceName(schema: string, table: string): string {
  return quoteQualified(schema, `${table}_audit_chain_seq`);
}

/** A covered column as format v2 takes it (@audit-chain/chain): base is the domain-resolved type. */
export interface CoveredColumn {
  name: string;
  type: string;
  personal: boolean;
  base?: string;
}

export interface AttachOptions {
  table: string;
  orgColumn?: string;
  orderBy?: string[];
  pii?: string[];
  exclude?: string[];
}

export interface AttachPlan {
  schema: string;
  table: string;
  chainKey: string | null;
  orderBy: string[];
  covered: CoveredColumn[];
  excluded: string[];
  chainColumns: typeof CHAIN_COLUMNS;
  /** BEFORE INSERT triggers that hash: dropped at the start, their definitions kept in audit_chain_tables. */
  dropTriggers: { name: string; definition: string; functionDefinition: string }[];
  /** Columns of the product's own chain (from its trigger or its application code), and what the plan does with them. */
  hashColumns: { name: string; treatment: 'covered' | 'excluded'; source: 'trigger' | 'application' }[];
  rows: number;
  chains: number;
  rowSecurity: { enabled: boolean; forced: boolean; policies: string[] };
  /** Problems that refuse the plan; empty when it may run. */
  problems: string[];
}

export async function planAttach(db: pg.Pool, inspection: TableInspection, options: AttachOptions): Promise<AttachPlan> {
  const problems: string[] = [];
  const byName = new Map(inspection.columns.map((column) => [column.name, column]));
  const need = (option: string, name: string): boolean => {
    if (byName.has(name)) return true;
    problems.push(`${option}: ${inspection.table} has no column ${name}`);
    return false;
  };
  for (const name of Object.values(CHAIN_COLUMNS)) {
    if (byName.has(name)) problems.push(`${inspection.table} already has a column ${name}, a name attach needs for the chain (is the table attached already?)`);
  }
  const identitySequence = await db.query<{ taken: boolean }>('select to_regclass($1) is not null as taken', [identitySequenceName(inspection.schema, inspection.table)]);
  if (identitySequence.rows[0]?.taken) problems.push(`${identitySequenceName(inspection.schema, inspection.table)} exists: attach names the chain_seq identity's sequence so`);
  const chainKey = options.orgColumn ?? null;
  if (chainKey && need('--org-column', chainKey)) {
    const column = byName.get(chainKey)!;
    if (['A', 'C'].includes(column.category) || /^jsonb?$/.test(column.type)) problems.push(`--org-column: ${chainKey} is ${column.type}; a chain key is a scalar (uuid, text, bigint, ...)`);
  }
  const excluded = options.exclude ?? [];
  excluded.forEach((name) => need('--exclude', name));
  if (chainKey && excluded.includes(chainKey)) problems.push(`--exclude: ${chainKey} is the chain key; the chain always covers it`);
  const pii = options.pii ?? [];
  for (const name of pii) {
    if (need('--pii', name) && excluded.includes(name)) problems.push(`--pii: ${name} is also excluded`);
  }

  // The order existing rows are chained in: the operator's columns, then the primary key to break ties.
  const orderBy = [...(options.orderBy ?? [])];
  orderBy.forEach((name) => need('--order-by', name));
  if (inspection.primaryKey.length === 0) problems.push(`${inspection.table} has no primary key: attach needs one to chain existing rows in a total order`);
  for (const name of inspection.primaryKey) if (!orderBy.includes(name)) orderBy.push(name);

  const v2Columns = (await db.query<V2Column>(TABLE_COLUMNS_SQL, [quoteQualified(inspection.schema, inspection.table)])).rows;
  const covered: CoveredColumn[] = v2Columns
    .filter((column) => !excluded.includes(column.name))
    .map((column) => ({ name: column.name, type: column.type, personal: pii.includes(column.name), ...(column.base !== column.type ? { base: column.base } : {}) }));
  for (const column of v2Columns) {
    if (excluded.includes(column.name)) continue;
    try {
      assertCoverable(column);
    } catch (error) {
      if (!(error instanceof UnsupportedColumnTypeError)) throw error;
      problems.push(`${column.name}: ${error.message}`);
    }
  }

  const dropTriggers = inspection.triggers.filter((trigger) => trigger.hashes);
  const triggerWritten = new Set(inspection.hashColumns.filter((name) => dropTriggers.some((trigger) => trigger.functionDefinition.includes(name))));
  const hashColumns = inspection.hashColumns.map((name) => ({
    name,
    treatment: excluded.includes(name) ? ('excluded' as const) : ('covered' as const),
    source: triggerWritten.has(name) ? ('trigger' as const) : ('application' as const),
  }));

  if (problems.length === 0) problems.push(...(await unsealableRows(db, inspection, covered)));
  if (inspection.forceRowSecurity) {
    const bypass = await db.query<{ ok: boolean }>('select rolsuper or rolbypassrls as ok from pg_roles where rolname = current_user');
    if (!bypass.rows[0]?.ok) problems.push(`${inspection.table} forces row-level security: run attach as a role with BYPASSRLS (or a superuser), so it can number every tenant's rows`);
  }
  const chains = problems.length === 0 && chainKey
    ? Number((await db.query<{ n: string }>(`select count(distinct ${quoteIdent(chainKey)})::text as n from ${quoteQualified(inspection.schema, inspection.table)}`)).rows[0]!.n)
    : inspection.rows > 0 ? 1 : 0;
  return {
    schema: inspection.schema,
    table: inspection.table,
    chainKey,
    orderBy,
    covered,
    excluded,
    chainColumns: CHAIN_COLUMNS,
    dropTriggers: dropTriggers.map((trigger) => ({ name: trigger.name, definition: trigger.definition, functionDefinition: trigger.functionDefinition })),
    hashColumns,
    rows: inspection.rows,
    chains,
    rowSecurity: { enabled: inspection.rowSecurity, forced: inspection.forceRowSecurity, policies: inspection.policies.map((policy) => `${policy.name}: ${policy.definition}`) },
    problems,
  };
}

/**
 * Reads every existing row as format v2 reads it (@audit-chain/chain) and
 * computes its checksum input, so a row with no canonical form is found now,
 * not when the sealer reaches it. One problem per failing column kind, with
 * the number of rows.
 */
async function unsealableRows(db: pg.Pool, inspection: TableInspection, covered: CoveredColumn[]): Promise<string[]> {
  const layout = formatV2Layout(covered);
  const failures = new Map<string, number>();
  await withTransaction(db, async (client) => {
    await client.query(`declare attach_check no scroll cursor for select ${selectListV2(covered, 't')} from ${quoteQualified(inspection.schema, inspection.table)} t`);
    for (;;) {
      const batch = await client.query<Record<string, unknown>>('fetch 2000 from attach_check');
      for (const row of batch.rows) {
        try {
          layout.seal({ chainKey: null, chainSeq: '1', values: valuesFromResult(row, covered.length) }, '0'.repeat(64), '0'.repeat(32));
        } catch (error) {
          if (!(error instanceof CanonicalFormError)) throw error;
          failures.set(error.message, (failures.get(error.message) ?? 0) + 1);
        }
      }
      if (batch.rows.length < 2000) break;
    }
  });
  return [...failures].map(([message, rows]) => `${rows} rows have no canonical form: ${message}`);
}

/** The plan, as the lines a dry run prints. */
export function describePlan(plan: AttachPlan): string[] {
  const lines = [
    `table ${plan.schema}.${plan.table}: ${plan.rows} rows, ${plan.chainKey ? `${plan.chains} chains by ${plan.chainKey}` : 'one chain for the whole table'}`,
    `chain existing rows in order of (${plan.orderBy.join(', ')}), as chain_seq 1..${plan.rows}; new rows from ${LIVE_SEQ_START + 1n} on`,
    `add columns ${Object.values(plan.chainColumns).join(', ')} (no rewrite; ${plan.chainColumns.seq} becomes an identity column once numbered, with a BRIN index built concurrently)`,
    `cover ${plan.covered.length} columns: ${plan.covered.map((column) => `${column.name} ${column.type}${column.personal ? ' (personal)' : ''}`).join(', ')}`,
    plan.excluded.length ? `exclude ${plan.excluded.join(', ')}` : 'exclude nothing',
  ];
  for (const trigger of plan.dropTriggers) lines.push(`drop hashing trigger ${trigger.name} (definition kept in audit_chain.audit_chain_tables): ${trigger.definition}`);
  if (plan.dropTriggers.length === 0) lines.push('no hashing trigger found');
  for (const column of plan.hashColumns) {
    lines.push(
      `found ${column.source === 'trigger' ? "the trigger's" : 'application-side'} hash column ${column.name}: ${column.treatment === 'covered' ? 'covered as content (the product\'s values are kept as written; --exclude it to leave it out)' : 'excluded'}`,
    );
  }
  lines.push(
    plan.rowSecurity.enabled
      ? `row-level security ${plan.rowSecurity.forced ? 'forced' : 'enabled'}, policies kept as they are (${plan.rowSecurity.policies.length}); the sealer role gets policies of its own to read and seal every row`
      : 'no row-level security',
  );
  lines.push('grants on the table stay as they are; the sealer role gets SELECT and UPDATE of the chain columns only');
  for (const problem of plan.problems) lines.push(`problem: ${problem}`);
  lines.push(plan.problems.length ? 'refused: nothing was changed' : 'every existing row can be sealed under this plan');
  return lines;
}
