// How a legacy audit table maps onto audit_logs. Read from the catalog, checked
// before anything changes, and stored with the adoption so a resumed run copies
// exactly as the first one did. Nothing of the legacy table may be lost: every
// legacy column is mapped to an audit_logs column or is one of the legacy
// checksum columns (kept in audit_chain_legacy_links), else adoption refuses.
import type pg from 'pg';
import { LifecycleError } from '../errors.ts';
import { quoteIdent } from '../roles.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** audit_logs content columns a legacy table can fill, with their types. */
export const TARGET_COLUMNS = {
  id: 'uuid',
  org_id: 'uuid',
  occurred_at: 'timestamptz',
  recorded_at: 'timestamptz',
  actor_type: 'text',
  actor_id: 'text',
  actor_email: 'text',
  action: 'text',
  resource_type: 'text',
  resource_id: 'text',
  resource_name: 'text',
  details: 'jsonb',
  ip_address: 'inet',
  user_agent: 'text',
  result: 'text',
  error_message: 'text',
} as const;
export type TargetColumn = keyof typeof TARGET_COLUMNS;

/** Legacy names commonly used for an audit_logs column, tried when no column has the audit_logs name. */
const ALIASES: Partial<Record<TargetColumn, string[]>> = {
  org_id: ['organization_id', 'tenant_id', 'account_id'],
  occurred_at: ['created_at', 'timestamp', 'created', 'logged_at', 'event_time'],
  actor_id: ['user_id'],
  actor_email: ['user_email', 'email'],
  ip_address: ['ip', 'remote_addr', 'client_ip'],
  details: ['metadata', 'data', 'payload'],
};

/** A source for one audit_logs column: a legacy column, or a SQL literal. */
export type Source = { column: string } | { literal: string | null };

export interface AdoptionPlan {
  schema: string;
  table: string;
  /** The legacy primary key column. */
  idColumn: string;
  /** true when it is a uuid: the rows keep their ids (and a compatibility view can stand in for the table). */
  keepsIds: boolean;
  /** The timestamp the historical rows are ordered by (with idColumn as tie-break). */
  orderColumn: string;
  columns: Partial<Record<TargetColumn, Source>>;
  /** The legacy chain columns, kept in audit_chain_legacy_links. */
  legacyPrevColumn: string | null;
  legacyChecksumColumn: string | null;
  /** Legacy column types, for casts. */
  types: Record<string, string>;
}

export interface PlanOptions {
  table: string;
  /** `target=source`: source is a legacy column, a quoted literal ('user') or null. */
  map?: readonly string[];
  /** The legacy checksum columns (default prev_checksum and checksum, when present). */
  legacyChecksumColumns?: readonly [string, string];
}

interface LegacyColumn {
  name: string;
  type: string;
  notNull: boolean;
}

/**
 * `table` or `schema.table`, each part either as stored (matched exactly, case
 * included: `AuditLog`, `Audit Log`) or double-quoted with `""` for a quote
 * inside (`"audit.v2"`, `shop."Audit Log"`), so a name holding a dot can be named.
 */
export function splitTableName(name: string): { schema: string | null; table: string } {
  const parts: string[] = [];
  let i = 0;
  const refuse = (): never => {
    throw new LifecycleError(`--table: got ${JSON.stringify(name)}, want a table name or schema.table (double-quote a part that holds a dot: "a.b")`);
  };
  while (i <= name.length) {
    let part = '';
    if (name[i] === '"') {
      i += 1;
      for (;;) {
        if (i >= name.length) refuse();
        if (name[i] === '"') {
          if (name[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        part += name[i];
        i += 1;
      }
      if (i < name.length && name[i] !== '.') refuse();
    } else {
      const end = name.indexOf('.', i);
      part = name.slice(i, end === -1 ? name.length : end);
      if (part.includes('"')) refuse();
      i = end === -1 ? name.length : end;
    }
    if (part === '') refuse();
    parts.push(part);
    if (i >= name.length) break;
    i += 1; // the dot
    if (i >= name.length) refuse();
  }
  if (parts.length === 0 || parts.length > 2) refuse();
  return parts.length === 2 ? { schema: parts[0]!, table: parts[1]! } : { schema: null, table: parts[0]! };
}

export function qualified(plan: Pick<AdoptionPlan, 'schema' | 'table'>): string {
  return `${quoteIdent(plan.schema)}.${quoteIdent(plan.table)}`;
}

export async function readLegacyTable(db: Queryable, name: string): Promise<{ schema: string; table: string; columns: LegacyColumn[]; primaryKey: string[] }> {
  const { schema, table } = splitTableName(name);
  const found = await db.query<{ oid: string; schema: string; relkind: string }>(
    `select c.oid::text, n.nspname as schema, c.relkind::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relname = $1 and ($2::text is null and c.oid = to_regclass(quote_ident($1)) or n.nspname = $2)`,
    [table, schema],
  );
  const relation = found.rows[0];
  if (!relation) throw new LifecycleError(`--table: no table ${name} in ${schema ?? 'the search path'}`);
  if (relation.relkind !== 'r') throw new LifecycleError(`--table: ${name} is not a plain table (relkind ${relation.relkind})`);
  const columns = await db.query<{ name: string; type: string; not_null: boolean }>(
    `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null
       from pg_attribute a where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped order by a.attnum`,
    [relation.oid],
  );
  const pk = await db.query<{ name: string }>(
    `select a.attname as name from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
      where i.indrelid = $1::oid and i.indisprimary`,
    [relation.oid],
  );
  return {
    schema: relation.schema,
    table,
    columns: columns.rows.map((row) => ({ name: row.name, type: row.type, notNull: row.not_null })),
    primaryKey: pk.rows.map((row) => row.name),
  };
}

function parseMap(entries: readonly string[]): Map<TargetColumn, Source> {
  const map = new Map<TargetColumn, Source>();
  for (const entry of entries) {
    const match = /^([a-z_]+)=(.*)$/.exec(entry);
    if (!match || !(match[1]! in TARGET_COLUMNS)) {
      throw new LifecycleError(`--map: got ${JSON.stringify(entry)}, want target=source with target one of ${Object.keys(TARGET_COLUMNS).join(', ')}`);
    }
    const source = match[2]!.trim();
    if (source.toLowerCase() === 'null') map.set(match[1] as TargetColumn, { literal: null });
    else if (/^'.*'$/s.test(source)) map.set(match[1] as TargetColumn, { literal: source.slice(1, -1).replaceAll("''", "'") });
    else map.set(match[1] as TargetColumn, { column: source });
  }
  return map;
}

/** Builds and checks the plan; throws LifecycleError naming every problem found. */
export async function planAdoption(db: Queryable, options: PlanOptions): Promise<AdoptionPlan> {
  const legacy = await readLegacyTable(db, options.table);
  const byName = new Map(legacy.columns.map((column) => [column.name, column]));
  const problems: string[] = [];
  if (legacy.primaryKey.length !== 1) problems.push(`the legacy table needs a one-column primary key, got ${legacy.primaryKey.length ? legacy.primaryKey.join(', ') : 'none'}`);
  const idColumn = legacy.primaryKey[0] ?? 'id';

  const [prevName, checksumName] = options.legacyChecksumColumns ?? ['prev_checksum', 'checksum'];
  const legacyPrevColumn = byName.has(prevName) ? prevName : null;
  const legacyChecksumColumn = byName.has(checksumName) ? checksumName : null;
  if (options.legacyChecksumColumns && (!legacyPrevColumn || !legacyChecksumColumn)) {
    problems.push(`--legacy-checksums: the legacy table has no column ${!legacyPrevColumn ? prevName : checksumName}`);
  }

  const explicit = parseMap(options.map ?? []);
  const columns: Partial<Record<TargetColumn, Source>> = {};
  for (const target of Object.keys(TARGET_COLUMNS) as TargetColumn[]) {
    const given = explicit.get(target);
    if (given) {
      if ('column' in given && !byName.has(given.column)) problems.push(`--map ${target}=${given.column}: the legacy table has no column ${given.column}`);
      columns[target] = given;
      continue;
    }
    const name = [target, ...(ALIASES[target] ?? [])].find((candidate) => byName.has(candidate) && candidate !== legacyPrevColumn && candidate !== legacyChecksumColumn);
    if (name) columns[target] = { column: name };
  }
  const keepsIds = byName.get(idColumn)?.type === 'uuid';
  if (keepsIds && !explicit.has('id')) columns.id = { column: idColumn };
  else if (!keepsIds && columns.id && 'column' in columns.id && columns.id.column === idColumn) delete columns.id;
  columns.recorded_at ??= columns.occurred_at;

  const orderSource = columns.occurred_at;
  if (!orderSource || !('column' in orderSource)) problems.push('occurred_at: no legacy timestamp column found (created_at, timestamp, ...): map one with --map occurred_at=<column>');
  for (const required of ['action', 'actor_type'] as const) {
    if (!columns[required]) problems.push(`${required}: no legacy column of that name: map one, or a constant, e.g. --map ${required}=${required === 'action' ? '<column>' : "\"'user'\""}`);
  }
  const used = new Set<string>([idColumn, ...[legacyPrevColumn, legacyChecksumColumn].filter((name): name is string => name !== null)]);
  for (const source of Object.values(columns)) if (source && 'column' in source) used.add(source.column);
  const unmapped = legacy.columns.map((column) => column.name).filter((name) => !used.has(name));
  if (unmapped.length > 0) {
    problems.push(`legacy column(s) ${unmapped.join(', ')} map to no audit_logs column and would be lost: map each with --map <audit_logs column>=<legacy column>`);
  }
  if (problems.length > 0) throw new LifecycleError(`cannot adopt ${options.table}: ${problems.join('; ')}`);
  return {
    schema: legacy.schema,
    table: legacy.table,
    idColumn,
    keepsIds,
    orderColumn: (orderSource as { column: string }).column,
    columns,
    legacyPrevColumn,
    legacyChecksumColumn,
    types: Object.fromEntries(legacy.columns.map((column) => [column.name, column.type])),
  };
}

/** The SQL expression giving `target` from a legacy row aliased `alias`. */
export function sourceExpression(plan: AdoptionPlan, target: TargetColumn, alias: string): string {
  const source = plan.columns[target];
  const type = TARGET_COLUMNS[target];
  if (!source) throw new LifecycleError(`no source for ${target}`);
  if ('literal' in source) return source.literal === null ? `null::${type}` : `${quoteLiteral(source.literal)}::${type}`;
  const column = `${alias}.${quoteIdent(source.column)}`;
  const legacyType = plan.types[source.column];
  if (legacyType === type || (type === 'timestamptz' && legacyType === 'timestamp with time zone') || (type === 'timestamptz' && /^timestamp\(\d\) with time zone$/.test(legacyType ?? ''))) return column;
  // A timestamp without a time zone is taken as UTC, whatever the session's TimeZone.
  if (type === 'timestamptz' && legacyType?.startsWith('timestamp')) return `(${column} at time zone 'UTC')`;
  return `${column}::${type}`;
}

export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
