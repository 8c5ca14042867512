// What a product's audit table looks like before `attach` touches it: its
// columns and types, its triggers (with their definitions, so the one that
// hashes can be dropped and kept), row-level security and grants, and the
// columns that look like a hash chain of the product's own.
import type pg from 'pg';
import { LifecycleError } from '../errors.ts';
import { splitTableName } from '../adoption/plan.ts';
import { quoteIdent } from '../roles.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface TableColumn {
  name: string;
  /** format_type(): `timestamp without time zone`, `character varying(255)`, an enum's name, ... */
  type: string;
  /** typcategory of the column's type (or of its element type): 'E' enum, 'A' array, ... */
  category: string;
  notNull: boolean;
}

export interface TableTrigger {
  name: string;
  /** pg_get_triggerdef() */
  definition: string;
  function: string;
  /** pg_get_functiondef() of the trigger's function */
  functionDefinition: string;
  beforeInsertRow: boolean;
  /** The trigger's function computes a hash (sha256/digest/md5/hmac) or writes a hash-like column. */
  hashes: boolean;
}

export interface TableInspection {
  oid: number;
  schema: string;
  table: string;
  owner: string;
  columns: TableColumn[];
  primaryKey: string[];
  triggers: TableTrigger[];
  rowSecurity: boolean;
  forceRowSecurity: boolean;
  policies: { name: string; definition: string }[];
  /** relacl as text, and every column ACL: what must be the same after attach. */
  grants: string;
  /** Columns whose name says they hold a hash chain of the product's own (checksum, prev_checksum, logHash, chain seed...). */
  hashColumns: string[];
  rows: number;
  /** On a Citus coordinator, what Citus manages the table as (citusTableKind); null for a plain table. */
  citus: string | null;
}

/**
 * What Citus makes of a table ('distributed by org_id', 'a reference table',
 * 'a Citus local table'), or null when it is a plain table or there is no Citus.
 */
export async function citusTableKind(db: Queryable, oid: number): Promise<string | null> {
  const citus = await db.query<{ present: boolean }>("select to_regclass('pg_catalog.pg_dist_partition') is not null as present");
  if (!citus.rows[0]?.present) return null;
  const found = await db.query<{ partmethod: string; repmodel: string; column: string | null }>(
    `select p.partmethod::text, p.repmodel::text, column_to_column_name(p.logicalrelid, p.partkey) as column
       from pg_catalog.pg_dist_partition p where p.logicalrelid = $1::oid`,
    [oid],
  );
  const row = found.rows[0];
  if (!row) return null;
  if (row.partmethod !== 'n') return `distributed by ${row.column ?? 'its distribution column'}`;
  return row.repmodel === 't' ? 'a reference table' : 'a Citus local table';
}

/** A name that says "hash chain": checksum, prev_checksum, previousLogHash, logHash, chainSeed, hash_seed, digest... */
export function looksLikeHashColumn(name: string): boolean {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().split(/[^a-z0-9]+/);
  return words.some((word) => ['hash', 'checksum', 'digest', 'signature'].includes(word)) || (words.includes('chain') && words.includes('seed')) || (words.includes('seed') && words.some((word) => word.includes('hash')));
}

const HASHING_BODY = /\b(sha224|sha256|sha384|sha512|digest|hmac|md5|crypt)\s*\(/i;

export async function inspectTable(db: Queryable, name: string): Promise<TableInspection> {
  const { schema, table } = splitTableName(name);
  const found = await db.query<{ oid: number; schema: string; table: string; relkind: string; owner: string; rls: boolean; force: boolean; acl: string | null }>(
    `select c.oid::int as oid, n.nspname as schema, c.relname as table, c.relkind::text as relkind, pg_get_userbyid(c.relowner) as owner,
            c.relrowsecurity as rls, c.relforcerowsecurity as force, c.relacl::text as acl
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relname = $1 and ($2::text is null and c.oid = to_regclass(quote_ident($1)) or n.nspname = $2)`,
    [table, schema],
  );
  const relation = found.rows[0];
  if (!relation) throw new LifecycleError(`--table: no table ${name}${schema ? '' : ' in the search path (name it schema.table)'}`);
  if (relation.relkind !== 'r') throw new LifecycleError(`--table: ${name} is not a plain table (relkind ${relation.relkind}); attach chains plain tables`);
  if (relation.schema === 'audit_chain') throw new LifecycleError(`--table: ${name} is one of audit-chain's own tables`);

  const columns = await db.query<{ name: string; type: string; category: string; not_null: boolean; acl: string | null }>(
    `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
            case when t.typcategory = 'A' then 'A' else t.typcategory::text end as category, a.attnotnull as not_null, a.attacl::text as acl
       from pg_attribute a join pg_type t on t.oid = a.atttypid
      where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped order by a.attnum`,
    [relation.oid],
  );
  const primaryKey = await db.query<{ name: string }>(
    `select a.attname as name from pg_index i join unnest(i.indkey) with ordinality k(attnum, n) on true
       join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
      where i.indrelid = $1 and i.indisprimary order by k.n`,
    [relation.oid],
  );
  const triggers = await db.query<{ name: string; definition: string; function: string; function_definition: string; type: number }>(
    `select t.tgname as name, pg_get_triggerdef(t.oid) as definition, t.tgfoid::regprocedure::text as function,
            pg_get_functiondef(t.tgfoid) as function_definition, t.tgtype::int as type
       from pg_trigger t where t.tgrelid = $1 and not t.tgisinternal order by t.tgname`,
    [relation.oid],
  );
  const policies = await db.query<{ name: string; definition: string }>(
    `select p.policyname as name,
            format('%s %s to %s using (%s) with check (%s)', p.permissive, p.cmd, array_to_string(p.roles, ','), p.qual, p.with_check) as definition
       from pg_policies p where p.schemaname = $1 and p.tablename = $2 and p.policyname not like 'audit\\_chain\\_%' order by p.policyname`,
    [relation.schema, relation.table],
  );
  const count = await db.query<{ n: string }>(`select count(*)::text as n from ${quoteQualified(relation.schema, relation.table)}`);
  const hashColumnNames = columns.rows.map((column) => column.name).filter(looksLikeHashColumn);
  return {
    oid: relation.oid,
    schema: relation.schema,
    table: relation.table,
    owner: relation.owner,
    columns: columns.rows.map((column) => ({ name: column.name, type: column.type, category: column.category, notNull: column.not_null })),
    primaryKey: primaryKey.rows.map((row) => row.name),
    triggers: triggers.rows.map((trigger) => {
      // tgtype bits: 1 ROW, 2 BEFORE, 4 INSERT.
      const beforeInsertRow = (trigger.type & 1) !== 0 && (trigger.type & 2) !== 0 && (trigger.type & 4) !== 0;
      const writesHashColumn = hashColumnNames.some((column) => new RegExp(`new\\s*\\.\\s*"?${column}"?\\s*:?=`, 'i').test(trigger.function_definition));
      return {
        name: trigger.name,
        definition: trigger.definition,
        function: trigger.function,
        functionDefinition: trigger.function_definition,
        beforeInsertRow,
        hashes: beforeInsertRow && (HASHING_BODY.test(trigger.function_definition) || writesHashColumn),
      };
    }),
    rowSecurity: relation.rls,
    forceRowSecurity: relation.force,
    policies: policies.rows,
    grants: [relation.acl ?? '', ...columns.rows.map((column) => `${column.name}:${column.acl ?? ''}`)].join('\n'),
    hashColumns: hashColumnNames,
    rows: Number(count.rows[0]!.n),
    citus: await citusTableKind(db, relation.oid),
  };
}

export function quoteQualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}
