// Format v2, part 1: how each covered column is read. For every column type the
// value is turned into text *by PostgreSQL*, by an expression whose result does
// not depend on any session setting (TimeZone, DateStyle, IntervalStyle,
// extra_float_digits, bytea_output, lc_monetary) and that keeps the stored value
// exactly: two different stored values never give the same text, and every value
// the type can hold gives a text (docs/chain-format.md, "Format v2").

/** How a column's value becomes its canonical text. */
export type ColumnEncoding =
  /** `c::text`: the type's output function, which is exact and session-independent for this type. */
  | 'text'
  /** PostgreSQL's output function through format('%s', c): bpchar keeps its padding, inet/cidr print as inet_out does. */
  | 'output'
  /** UTC, ISO 8601 with the astronomical year (at least 4 digits, '-' before a negative one); six fraction digits; `Z`. `infinity`, `-infinity`. */
  | 'timestamptz'
  /** The same without the zone conversion and without `Z`. */
  | 'timestamp'
  /** Astronomical year, month and day (`-0001-03-04`); `infinity`, `-infinity`. */
  | 'date'
  /** Lowercase hex of the value's bytes. */
  | 'bytea'
  /** Lowercase hex of the type's binary send form (IEEE-754 floats, interval, money, geometric and date/time ranges). */
  | 'binary'
  /** An array of a type whose own encoding is not `text`: its dimensions and each element's canonical text. */
  | 'array';

export interface CoveredColumn {
  /** The column's name as in the catalog (case kept; quoted in SQL as needed). */
  name: string;
  /** format_type(atttypid, atttypmod): 'timestamp(6) with time zone', 'jsonb', 'text[]', an enum's name. Hashed. */
  type: string;
  /** Committed through the salted personal digest, so the value can be erased later. */
  personal: boolean;
  /**
   * The type after resolving domains (format_type of the domain's base type), when `type` names
   * a domain; decides the encoding. Not hashed. Defaults to `type`.
   */
  base?: string;
}

export class UnsupportedColumnTypeError extends Error {
  override name = 'UnsupportedColumnTypeError';
}

/** Types whose send form is their canonical text: the function that produces it. */
const BINARY_SEND: Record<string, string> = {
  real: 'float4send',
  'double precision': 'float8send',
  money: 'cash_send',
  interval: 'interval_send',
  point: 'point_send',
  line: 'line_send',
  lseg: 'lseg_send',
  box: 'box_send',
  path: 'path_send',
  polygon: 'poly_send',
  circle: 'circle_send',
  tsrange: 'range_send',
  tstzrange: 'range_send',
  daterange: 'range_send',
};

/** Types whose output function depends on a session setting or is not injective through `::text`. */
const SPECIAL: Record<string, ColumnEncoding> = {
  'timestamp with time zone': 'timestamptz',
  'timestamp without time zone': 'timestamp',
  date: 'date',
  bytea: 'bytea',
  character: 'output',
  bpchar: 'output',
  inet: 'output',
  cidr: 'output',
};

/**
 * Types PostgreSQL cannot render exactly and independently of the session with any
 * encoding above; a plan covering such a column is refused before anything is sealed.
 */
const UNSUPPORTED = new Set(['record', 'anyelement', 'unknown', 'tsmultirange', 'tstzmultirange', 'datemultirange']);

/** The type without its modifiers: 'timestamp(6) with time zone' -> 'timestamp with time zone', 'numeric(10,2)[]' -> 'numeric[]'. */
export function typeWithoutModifiers(type: string): string {
  return type.replace(/\(\s*\d+(?:\s*,\s*-?\d+)?\s*\)/g, '').replace(/\s+/g, ' ').trim();
}

function elementType(type: string): string | null {
  const bare = typeWithoutModifiers(type);
  return bare.endsWith('[]') ? bare.replace(/(\[\])+$/, '') : null;
}

/** The encoding of a column of this type (domains resolved: pass `base`). */
export function encodingOf(type: string): ColumnEncoding {
  const bare = typeWithoutModifiers(type);
  if (UNSUPPORTED.has(bare)) throw new UnsupportedColumnTypeError(`type ${JSON.stringify(type)} has no exact canonical form in format v2`);
  const element = elementType(bare);
  if (element !== null) return encodingOf(element) === 'text' ? 'text' : 'array';
  if (bare in SPECIAL) return SPECIAL[bare]!;
  if (bare in BINARY_SEND) return 'binary';
  return 'text';
}

/** A SQL identifier, double-quoted when it is not a plain lowercase name (as quote_ident does). */
export function quoteIdent(name: string): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name)) return name;
  return `"${name.replaceAll('"', '""')}"`;
}

// Reserved key words that cannot be a bare column name (PostgreSQL 15, "reserved" and
// "reserved (can be function or type)" that are plausible column names); quoting
// more than needed is harmless.
const RESERVED = new Set([
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'authorization', 'binary', 'both', 'case', 'cast',
  'check', 'collate', 'collation', 'column', 'concurrently', 'constraint', 'create', 'cross', 'current_catalog', 'current_date',
  'current_role', 'current_schema', 'current_time', 'current_timestamp', 'current_user', 'default', 'deferrable', 'desc', 'distinct',
  'do', 'else', 'end', 'except', 'false', 'fetch', 'for', 'foreign', 'freeze', 'from', 'full', 'grant', 'group', 'having', 'ilike', 'in',
  'initially', 'inner', 'intersect', 'into', 'is', 'isnull', 'join', 'lateral', 'leading', 'left', 'like', 'limit', 'localtime',
  'localtimestamp', 'natural', 'not', 'notnull', 'null', 'offset', 'on', 'only', 'or', 'order', 'outer', 'overlaps', 'placing',
  'primary', 'references', 'returning', 'right', 'select', 'session_user', 'similar', 'some', 'symmetric', 'table', 'tablesample',
  'then', 'to', 'trailing', 'true', 'union', 'unique', 'user', 'using', 'variadic', 'verbose', 'when', 'where', 'window', 'with',
]);

/** Astronomical year of a date expression (1 BC is 0000, 2 BC is -0001): at least four digits, '-' before a negative one. */
function yearSql(value: string): string {
  const y = `(case when extract(year from ${value}) < 0 then extract(year from ${value})::int + 1 else extract(year from ${value})::int end)`;
  // lpad cuts a longer text, so only years below 10000 go through it.
  return `(case when ${y} > 9999 then ${y}::text when ${y} >= 0 then lpad(${y}::text, 4, '0') else '-' || lpad((-${y})::text, 4, '0') end)`;
}

function infinities(value: string, finite: string): string {
  return `(case when ${value} is null then null when ${value} = 'infinity' then 'infinity' when ${value} = '-infinity' then '-infinity' else ${finite} end)`;
}

/**
 * A finite timestamp (without time zone) as ISO 8601 with the astronomical year:
 * to_char's own text from 1 CE on (its YYYY has more digits after 9999), and for
 * BC years (to_char prints 1 BC as 0001) the year 1 - n, so 1 BC is 0000 and 2 BC -0001.
 */
function timestampText(u: string, suffix: string): string {
  const pattern = `'YYYY-MM-DD"T"HH24:MI:SS.US${suffix}'`;
  const bcYear = `to_char(${u}, 'YYYY')`;
  return `(case when ${u} >= timestamp '0001-01-01 00:00:00' then to_char(${u}, ${pattern}) else (case when ${bcYear} = '0001' then '0000' else '-' || lpad((${bcYear}::int - 1)::text, 4, '0') end) || to_char(${u}, '-MM-DD"T"HH24:MI:SS.US${suffix}') end)`;
}

/**
 * The SQL expression that reads the value of `expression` (a column reference such as
 * `a."createdAt"`) of a column of type `type` as its canonical text, or NULL for SQL NULL.
 */
export function valueSql(expression: string, type: string): string {
  const c = `(${expression})`;
  switch (encodingOf(type)) {
    case 'text':
      return `${c}::text`;
    case 'output':
      return `(case when ${c} is null then null else format('%s', ${c}) end)`;
    case 'timestamptz':
      return infinities(c, timestampText(`(${c} at time zone 'UTC')`, '"Z"'));
    case 'timestamp':
      return infinities(c, timestampText(c, ''));
    case 'date':
      return infinities(c, `${yearSql(c)} || '-' || lpad(extract(month from ${c})::text, 2, '0') || '-' || lpad(extract(day from ${c})::text, 2, '0')`);
    case 'bytea':
      return `encode(${c}, 'hex')`;
    case 'binary':
      return `encode(${BINARY_SEND[typeWithoutModifiers(type)]}(${c}), 'hex')`;
    case 'array': {
      const element = elementType(type)!;
      return `(case when ${c} is null then null else coalesce(array_dims(${c}), '') || '=' || coalesce((select array_agg(${valueSql('v2_e', element)} order by v2_o) from unnest(${c}) with ordinality as v2_u(v2_e, v2_o))::text, '{}') end)`;
    }
  }
}

/** The canonical-text expression of one covered column of the table aliased `alias`. */
export function columnValueSql(column: CoveredColumn, alias: string): string {
  return valueSql(`${alias}.${quoteIdent(column.name)}`, column.base ?? column.type);
}

/**
 * Select list that reads every covered column's canonical text, in the columns' order,
 * as `v0`, `v1`, ...: `select ${selectListV2(columns, 'a')} from t a`.
 */
export function selectListV2(columns: readonly CoveredColumn[], alias: string, prefix = 'v'): string {
  return columns.map((column, index) => `${columnValueSql(column, alias)} as ${prefix}${index}`).join(',\n  ');
}

/** The read values of one row from a result row selected with selectListV2, in the columns' order. */
export function valuesFromResult(row: Record<string, unknown>, count: number, prefix = 'v'): (string | null)[] {
  const values: (string | null)[] = new Array(count);
  for (let index = 0; index < count; index += 1) {
    const value = row[`${prefix}${index}`];
    if (value !== null && typeof value !== 'string') throw new TypeError(`${prefix}${index}: got ${typeof value}, want text or null`);
    values[index] = value;
  }
  return values;
}

/**
 * Reads a table's columns as format v2 describes them: name, format_type, and the
 * domain-resolved base type, in column order (dropped and system columns left out).
 * Parameter $1: the table as text (regclass syntax, e.g. 'public."AuditLog"').
 */
export const TABLE_COLUMNS_SQL = `
  with recursive cols as (
    select a.attnum, a.attname::text as name, format_type(a.atttypid, a.atttypmod) as type,
           a.atttypid as typid, a.atttypmod as typmod
      from pg_attribute a
     where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped
  ), base(attnum, typid, typmod) as (
    select attnum, typid, typmod from cols
    union all
    select b.attnum, t.typbasetype, t.typtypmod from base b join pg_type t on t.oid = b.typid where t.typtype = 'd'
  )
  select c.name, c.type, format_type(b.typid, b.typmod) as base, t.typtype::text as kind
    from cols c
    join base b on b.attnum = c.attnum
    join pg_type t on t.oid = b.typid and t.typtype <> 'd'
   order by c.attnum`;

export interface TableColumn {
  name: string;
  type: string;
  base: string;
  /** pg_type.typtype of the base type: b base, c composite, e enum, r range, m multirange, p pseudo. */
  kind: string;
}

/** Throws UnsupportedColumnTypeError when the column cannot be covered by format v2. */
export function assertCoverable(column: TableColumn): void {
  if (column.kind === 'c' || column.kind === 'm' || column.kind === 'p') {
    throw new UnsupportedColumnTypeError(
      `column ${JSON.stringify(column.name)} of type ${JSON.stringify(column.type)} (${column.kind === 'c' ? 'composite' : column.kind === 'm' ? 'multirange' : 'pseudo'} type) has no exact canonical form in format v2: exclude it`,
    );
  }
  encodingOf(column.base);
}
