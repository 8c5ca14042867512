// fast-check generators of stored values for format v2's property tests: each
// column type with the SQL text that makes the value (cast by the column), chosen
// to reach the edges (BC years, infinities, -0, NaN, big numerics, trailing zeros,
// json numbers no double holds, inet masks, padded chars, arrays with NULLs).
import fc from 'fast-check';

export interface ProbeColumn {
  name: string;
  /** format_type text of the column. */
  type: string;
  /** The send function whose bytes identify the stored value exactly (for the bijection check). */
  send: string;
  /** SQL text of a value (cast to the column's type by the INSERT); null for SQL NULL. */
  value: fc.Arbitrary<string | null>;
}

const micros = fc.bigInt({ min: 0n, max: 86_399_999_999n });
/** Days from 1970-01-01 to the ends of timestamp's range: 4713 BC to 294276 AD. */
const timestampDays = fc.oneof(
  fc.integer({ min: -2_440_587, max: 106_741_000 }),
  fc.integer({ min: -2_440_587, max: -719_000 }),
  fc.integer({ min: 2_900_000, max: 3_000_000 }),
);
const instant = fc.tuple(timestampDays, micros).map(([days, us]) => `epoch|${days}|${us}`);
// Values whose texts would collide if a year were cut to four digits or BC years were written as CE.
export const timestampValue = fc.oneof(
  instant,
  instant,
  fc.constantFrom('infinity', '-infinity', '12345-06-07 08:09:10+00', '1234-06-07 08:09:10+00', '123456-06-07 08:09:10+00', '0001-06-07 08:09:10+00 BC', '0001-06-07 08:09:10+00', '0002-06-07 08:09:10+00 BC', '1000-06-07 08:09:10+00 BC'),
);
const dateValue = fc.oneof(
  fc.integer({ min: -2_440_587, max: 2_145_000_000 }).map((days) => `days|${days}`),
  fc.constantFrom('infinity', '-infinity', '12345-06-07', '1234-06-07', '123456-06-07', '1234567-06-07', '0001-06-07 BC', '0001-06-07', '0002-06-07 BC'),
);

const digits = fc.stringMatching(/^[0-9]{1,40}$/);
const numericValue = fc.oneof(
  fc.tuple(fc.boolean(), digits, fc.option(fc.stringMatching(/^[0-9]{0,30}$/), { nil: undefined })).map(
    ([negative, whole, fraction]) => `${negative ? '-' : ''}${whole}${fraction === undefined ? '' : `.${fraction}`}`,
  ),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '0', '0.0', '1', '1.0', '1.00', '-0', '9007199254740993', '9007199254740992'),
);

const jsonNumber = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  numericValue.filter((n) => !/N|I/.test(n)).map((n) => n.replace(/^(-?)0+(?=\d)/, '$1').replace(/\.$/, '.0')),
  fc.constantFrom('1e400', '-1e309', '1.0', '1', '1e-400', '0.1e1', '12345678901234567890'),
);
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    jsonNumber,
    fc.constantFrom('null', 'true', 'false'),
    fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\u0000')).map((s) => JSON.stringify(s)),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(', ')}]`),
    fc
      .array(fc.tuple(fc.string({ maxLength: 4 }).filter((s) => !s.includes('\u0000')), tie('value')), { maxLength: 4 })
      .map((members) => `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).value;

const text = fc.string({ unit: 'binary', maxLength: 30 }).filter((s) => !s.includes('\u0000'));
const ipv4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, mask]) => `${ip}/${mask}`);
const ipv6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([ip, mask]) => `${ip}/${mask}`);
const inetValue = fc.oneof(ipv4, ipv6, fc.ipV4(), fc.ipV6(), fc.constantFrom('::ffff:192.0.2.1', '192.0.2.1', '::ffff:192.0.2.1/128', '192.0.2.1/32'));
const hex = fc.uint8Array({ maxLength: 12 }).map((bytes) => `\\x${Buffer.from(bytes).toString('hex')}`);
const double = fc.double().map((n) => (Object.is(n, -0) ? '-0' : Number.isNaN(n) ? 'NaN' : n === Infinity ? 'Infinity' : n === -Infinity ? '-Infinity' : String(n)));
const float4 = fc.float().map((n) => (Object.is(n, -0) ? '-0' : Number.isNaN(n) ? 'NaN' : n === Infinity ? 'Infinity' : n === -Infinity ? '-Infinity' : String(n)));
const int = (bits: 16 | 32 | 64) => fc.bigInt({ min: -(2n ** BigInt(bits - 1)), max: 2n ** BigInt(bits - 1) - 1n }).map(String);
const intervalValue = fc
  .tuple(fc.integer({ min: -100_000, max: 100_000 }), fc.integer({ min: -100_000, max: 100_000 }), fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }))
  .map(([months, days, us]) => `${months} months ${days} days ${us} microseconds`);
const timeValue = fc.bigInt({ min: 0n, max: 86_400_000_000n }).map((us) => `${us} us`);
const zone = fc.integer({ min: -15 * 3600 - 59 * 60, max: 15 * 3600 + 59 * 60 });
const arrayLiteral = (element: fc.Arbitrary<string>) =>
  fc.array(fc.option(element, { nil: null }), { maxLength: 4 }).map((items) => JSON.stringify(items));

const nullable = (value: fc.Arbitrary<string>) => fc.option(value, { nil: null, freq: 6 });

/**
 * Probe columns and how a value is written into each: `$n` is the generated text,
 * turned into the value by `castSql` (e.g. days from the epoch into a date).
 */
export const PROBE_COLUMNS: (ProbeColumn & { castSql: (param: string) => string })[] = [
  { name: 'c_text', type: 'text', send: 'textsend', value: nullable(text), castSql: (p) => `${p}::text` },
  { name: 'c_varchar', type: 'character varying(40)', send: 'varcharsend', value: nullable(text), castSql: (p) => `${p}::varchar(40)` },
  { name: 'c_bpchar', type: 'bpchar', send: 'bpcharsend', value: nullable(fc.constantFrom('a', 'a ', 'a  ', ' a', '', ' ')), castSql: (p) => `${p}::bpchar` },
  { name: 'c_char5', type: 'character(5)', send: 'bpcharsend', value: nullable(fc.constantFrom('a', 'a ', 'ab', '')), castSql: (p) => `${p}::char(5)` },
  { name: 'c_uuid', type: 'uuid', send: 'uuid_send', value: nullable(fc.uuid()), castSql: (p) => `${p}::uuid` },
  { name: 'c_int2', type: 'smallint', send: 'int2send', value: nullable(int(16)), castSql: (p) => `${p}::int2` },
  { name: 'c_int4', type: 'integer', send: 'int4send', value: nullable(int(32)), castSql: (p) => `${p}::int4` },
  { name: 'c_int8', type: 'bigint', send: 'int8send', value: nullable(int(64)), castSql: (p) => `${p}::int8` },
  { name: 'c_numeric', type: 'numeric', send: 'numeric_send', value: nullable(numericValue), castSql: (p) => `${p}::numeric` },
  { name: 'c_bool', type: 'boolean', send: 'boolsend', value: nullable(fc.constantFrom('true', 'false')), castSql: (p) => `${p}::boolean` },
  { name: 'c_float8', type: 'double precision', send: 'float8send', value: nullable(double), castSql: (p) => `${p}::float8` },
  { name: 'c_float4', type: 'real', send: 'float4send', value: nullable(float4), castSql: (p) => `${p}::float4` },
  {
    name: 'c_tstz',
    type: 'timestamp with time zone',
    send: 'timestamptz_send',
    value: nullable(timestampValue),
    castSql: (p) => `(case when split_part(${p}, '|', 1) = 'epoch' then timestamptz 'epoch' + (split_part(${p}, '|', 2) || ' days')::interval + (split_part(${p}, '|', 3) || ' us')::interval else ${p}::timestamptz end)`,
  },
  {
    name: 'c_ts',
    type: 'timestamp without time zone',
    send: 'timestamp_send',
    value: nullable(timestampValue),
    castSql: (p) => `(case when split_part(${p}, '|', 1) = 'epoch' then timestamp 'epoch' + (split_part(${p}, '|', 2) || ' days')::interval + (split_part(${p}, '|', 3) || ' us')::interval else ${p}::timestamp end)`,
  },
  {
    name: 'c_date',
    type: 'date',
    send: 'date_send',
    value: nullable(dateValue),
    castSql: (p) => `(case when split_part(${p}, '|', 1) = 'days' then date '1970-01-01' + split_part(${p}, '|', 2)::int else ${p}::date end)`,
  },
  { name: 'c_time', type: 'time without time zone', send: 'time_send', value: nullable(timeValue), castSql: (p) => `(time '00:00' + ${p}::interval)` },
  {
    name: 'c_timetz',
    type: 'time with time zone',
    send: 'timetz_send',
    value: nullable(fc.tuple(fc.bigInt({ min: 0n, max: 86_399_999_999n }), zone).map(([us, z]) => `${us}|${z}`)),
    castSql: (p) =>
      `(((time '00:00' + (split_part(${p}, '|', 1) || ' us')::interval)::text || (case when split_part(${p}, '|', 2)::int < 0 then '-' else '+' end) || to_char(make_interval(secs => abs(split_part(${p}, '|', 2)::int)), 'HH24:MI:SS'))::timetz)`,
  },
  { name: 'c_interval', type: 'interval', send: 'interval_send', value: nullable(intervalValue), castSql: (p) => `${p}::interval` },
  { name: 'c_bytea', type: 'bytea', send: 'byteasend', value: nullable(hex), castSql: (p) => `${p}::bytea` },
  { name: 'c_inet', type: 'inet', send: 'inet_send', value: nullable(inetValue), castSql: (p) => `${p}::inet` },
  { name: 'c_cidr', type: 'cidr', send: 'cidr_send', value: nullable(inetValue), castSql: (p) => `network(${p}::inet)` },
  { name: 'c_json', type: 'json', send: 'json_send', value: nullable(jsonText), castSql: (p) => `${p}::json` },
  { name: 'c_jsonb', type: 'jsonb', send: 'jsonb_send', value: nullable(jsonText), castSql: (p) => `${p}::jsonb` },
  { name: 'c_enum', type: 'probe_mood', send: 'enum_send', value: nullable(fc.constantFrom('happy', 'sad', 'Happy', 'with space')), castSql: (p) => `${p}::probe_mood` },
  { name: 'c_money', type: 'money', send: 'cash_send', value: nullable(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }).map(String)), castSql: (p) => `(${p}::numeric / 100)::money` },
  {
    name: 'c_text_array',
    type: 'text[]',
    send: 'array_send',
    value: nullable(arrayLiteral(fc.oneof(text, fc.constantFrom('NULL', '', '"', '{}', ',')))),
    castSql: (p) => `array(select x from jsonb_array_elements_text(${p}::jsonb) with ordinality as j(x, o) order by o)`,
  },
  {
    name: 'c_tstz_array',
    type: 'timestamp with time zone[]',
    send: 'array_send',
    value: nullable(arrayLiteral(fc.oneof(fc.constantFrom('infinity', '-infinity'), fc.tuple(timestampDays, micros).map(([d, us]) => `${d}|${us}`)))),
    castSql: (p) =>
      `array(select case when x like '%|%' then timestamptz 'epoch' + (split_part(x, '|', 1) || ' days')::interval + (split_part(x, '|', 2) || ' us')::interval else x::timestamptz end from jsonb_array_elements_text(${p}::jsonb) with ordinality as j(x, o) order by o)`,
  },
  {
    name: 'c_float8_array',
    type: 'double precision[]',
    send: 'array_send',
    value: nullable(arrayLiteral(double)),
    castSql: (p) => `array(select x::float8 from jsonb_array_elements_text(${p}::jsonb) with ordinality as j(x, o) order by o)`,
  },
  {
    name: 'c_int_matrix',
    type: 'integer[]',
    send: 'array_send',
    value: nullable(fc.constantFrom('{}', '{1,2}', '[0:1]={1,2}', '{{1,2}}', '{{1},{2}}', '{NULL}', '[2:2]={NULL}')),
    castSql: (p) => `${p}::int[]`,
  },
  {
    name: 'c_bytea_matrix',
    type: 'bytea[]',
    send: 'array_send',
    value: nullable(fc.constantFrom('{}', '{"\\\\x01"}', '[0:0]={"\\\\x01"}', '{{"\\\\x01"},{"\\\\x02"}}', '{{"\\\\x0102"}}', '{NULL}')),
    castSql: (p) => `${p}::bytea[]`,
  },
];

export const PROBE_DDL = `
  create type probe_mood as enum ('happy', 'sad', 'Happy', 'with space');
  create table probe (n int primary key, ${PROBE_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ')});`;

export const probeRow = fc.record(Object.fromEntries(PROBE_COLUMNS.map((c) => [c.name, c.value])) as Record<string, fc.Arbitrary<string | null>>);

/** INSERT of one generated row numbered $1. */
export const PROBE_INSERT = `insert into probe (n, ${PROBE_COLUMNS.map((c) => c.name).join(', ')})
  values ($1, ${PROBE_COLUMNS.map((c, i) => c.castSql(`$${i + 2}::text`)).join(', ')})`;

export function probeParams(n: number, row: Record<string, string | null>): unknown[] {
  return [n, ...PROBE_COLUMNS.map((c) => row[c.name])];
}

/** Random session settings that change how PostgreSQL prints values by default. */
export const sessionSettings = fc.record({
  TimeZone: fc.constantFrom('UTC', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'Europe/Berlin', '<+1359>-13:59', 'America/St_Johns'),
  DateStyle: fc.constantFrom('ISO, MDY', 'ISO, DMY', 'SQL, DMY', 'SQL, MDY', 'Postgres, DMY', 'Postgres, YMD', 'German', 'ISO, YMD'),
  IntervalStyle: fc.constantFrom('postgres', 'postgres_verbose', 'sql_standard', 'iso_8601'),
  extra_float_digits: fc.integer({ min: -15, max: 3 }).map(String),
  bytea_output: fc.constantFrom('hex', 'escape'),
  lc_monetary: fc.constantFrom('C'),
});
