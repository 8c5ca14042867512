// The compiled encoding (compiled-v2.ts) against the general one (canonical-v2.ts,
// seal-v2.ts), byte for byte: generated layouts over every supported column type
// (each encoding of column-encoding.ts, arrays, enums, domains), NULLs, personal
// columns, values as PostgreSQL writes them and arbitrary text; and bad input,
// which both must refuse with the same error.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { AUDIT_LOGS_V2 } from '../audit-logs-v2.ts';
import { CanonicalFormError } from '../row-validation.ts';
import { formatV2Layout, type RowV2 } from './canonical-v2.ts';
import { encodingOf, type CoveredColumn } from './column-encoding.ts';
import { compileLayoutV2, compiledLayoutV2, sealRowsCompiledV2 } from './compiled-v2.ts';
import { sealRowsV2 } from './seal-v2.ts';

const hexBytes = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((bytes) => Buffer.from(bytes).toString('hex'));
const hex = (length: number) => hexBytes(length / 2, length / 2);
const year = fc.integer({ min: -4713, max: 294276 });
const two = (min: number, max: number) => fc.integer({ min, max }).map((n) => String(n).padStart(2, '0'));
const yearText = year.map((y) => (y < 0 ? `-${String(-y).padStart(4, '0')}` : String(y).padStart(4, '0')));
const instant = fc
  .tuple(yearText, two(1, 12), two(1, 28), two(0, 23), two(0, 59), two(0, 59), fc.integer({ min: 0, max: 999_999 }))
  .map(([y, mo, d, h, mi, s, us]) => `${y}-${mo}-${d}T${h}:${mi}:${s}.${String(us).padStart(6, '0')}`);
const anyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }).filter((text) => text.isWellFormed()),
  fc.constantFrom('', 'null', '"', '\\', '\u0000', '\u2028', '\u007f', '😀', '｡', 'a,b', ':', '{}', '[1]'),
);

/** Column types covering every encoding, with values as PostgreSQL's canonical text gives them. */
const TYPES: { type: string; base?: string; value: fc.Arbitrary<string> }[] = [
  { type: 'text', value: anyText },
  { type: 'character varying(20)', value: anyText },
  { type: 'uuid', value: fc.uuid() },
  { type: 'integer', value: fc.integer().map(String) },
  { type: 'bigint', value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) },
  { type: 'numeric(10,2)', value: fc.tuple(fc.integer({ min: -99_999_999, max: 99_999_999 }), two(0, 99)).map(([a, b]) => `${a}.${b}`) },
  { type: 'boolean', value: fc.constantFrom('true', 'false') },
  { type: 'jsonb', value: fc.jsonValue().map((value) => JSON.stringify(value)) },
  { type: 'json', value: fc.json() },
  { type: 'timestamp(6) with time zone', value: fc.oneof(instant.map((t) => `${t}Z`), fc.constantFrom('infinity', '-infinity')) },
  { type: 'timestamp without time zone', value: instant },
  { type: 'date', value: fc.tuple(yearText, two(1, 12), two(1, 28)).map((parts) => parts.join('-')) },
  { type: 'bytea', value: hexBytes(0, 24) },
  { type: 'character(3)', value: fc.string({ minLength: 3, maxLength: 3 }) },
  { type: 'inet', value: fc.oneof(fc.ipV4(), fc.ipV6()) },
  { type: 'cidr', value: fc.ipV4().map((ip) => `${ip}/32`) },
  { type: 'real', value: hex(8) },
  { type: 'double precision', value: hex(16) },
  { type: 'money', value: hex(16) },
  { type: 'interval', value: hex(32) },
  ...['point', 'line', 'lseg', 'box', 'path', 'polygon', 'circle', 'tsrange', 'tstzrange', 'daterange'].map((type) => ({ type, value: hexBytes(1, 40) })),
  { type: 'text[]', value: fc.array(anyText, { maxLength: 4 }).map((items) => `{${items.map((item) => JSON.stringify(item)).join(',')}}`) },
  { type: 'integer[]', value: fc.array(fc.integer(), { maxLength: 4 }).map((items) => `{${items.join(',')}}`) },
  { type: 'timestamp(6) with time zone[]', value: fc.array(instant, { maxLength: 3 }).map((items) => `[1:${items.length}]={${items.map((t) => `${t}Z`).join(',')}}`) },
  { type: 'bytea[]', value: fc.array(hexBytes(0, 4), { maxLength: 3 }).map((items) => `[1:${items.length}]={${items.join(',')}}`) },
  { type: 'ticket_status', value: fc.constantFrom('open', 'closed', 'needs review') },
  { type: 'email_address', base: 'text', value: anyText },
  { type: 'positive_money', base: 'numeric(12,2)', value: fc.nat().map((n) => `${n}.00`) },
];

const columnName = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_ ,.:-]{0,7}$/),
  fc.constantFrom('😀', '｡', 'é', 'e\u0301', 'a,b', 'null', 'id', 'ID', 'Id', '_', 'z', 'columns'),
);

interface Case {
  columns: CoveredColumn[];
  rows: (RowV2 & { prevChecksum: string; piiDigest: string; salt: string })[];
}

const caseArbitrary: fc.Arbitrary<Case> = fc
  .uniqueArray(fc.record({ name: columnName, kind: fc.nat({ max: TYPES.length - 1 }), personal: fc.boolean() }), {
    minLength: 1,
    maxLength: 10,
    selector: (column) => column.name,
  })
  .chain((picked) => {
    const columns: CoveredColumn[] = picked.map(({ name, kind, personal }) => ({
      name,
      type: TYPES[kind]!.type,
      personal,
      ...(TYPES[kind]!.base ? { base: TYPES[kind]!.base } : {}),
    }));
    const row = fc.record({
      chainKey: fc.option(fc.oneof(fc.uuid(), anyText), { nil: null, freq: 4 }),
      chainSeq: fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String),
      values: fc.tuple(...picked.map(({ kind }) => fc.option(TYPES[kind]!.value, { nil: null, freq: 3 }))),
      prevChecksum: hex(64),
      piiDigest: hex(64),
      salt: hex(32),
    });
    return fc.record({ columns: fc.constant(columns), rows: fc.array(row, { minLength: 1, maxLength: 4 }) });
  });

/** What a call gives: its text, or the error it throws (class and message). */
function outcome(call: () => unknown): unknown {
  try {
    return { value: call() };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

describe('compiled format v2 encoding', () => {
  test('every supported type has an encoding (the generators cover them all)', () => {
    const encodings = new Set(TYPES.map(({ type, base }) => encodingOf(base ?? type)));
    expect([...encodings].sort()).toEqual(['array', 'binary', 'bytea', 'date', 'output', 'text', 'timestamp', 'timestamptz']);
  });

  test('checksum_input and the personal digest input are byte for byte the general ones', () => {
    fc.assert(
      fc.property(caseArbitrary, ({ columns, rows }) => {
        const layout = formatV2Layout(columns);
        const fast = compileLayoutV2(layout);
        for (const row of rows) {
          expect(fast.checksumInput(row, row)).toBe(layout.checksumInput(row, row));
          expect(fast.personalDigestInput(row.values, row.salt)).toBe(layout.personalDigestInput(row.values, row.salt));
          expect(fast.seal(row, row.prevChecksum, row.salt)).toEqual(layout.seal(row, row.prevChecksum, row.salt));
        }
      }),
      { numRuns: 1500 },
    );
  });

  test('a chain sealed through it has the links sealRowsV2 gives', () => {
    fc.assert(
      fc.property(caseArbitrary, fc.option(hex(64), { nil: null }), ({ columns, rows }, headChecksum) => {
        const layout = formatV2Layout(columns);
        const ordered = rows.map((row, index) => ({ ...row, chainSeq: String(1000 + index * 7) }));
        const salts = () => {
          let next = 0;
          return () => rows[next++ % rows.length]!.salt;
        };
        const general = sealRowsV2(layout, { headChecksum, rows: ordered, newSalt: salts() });
        expect(sealRowsCompiledV2(layout, { headChecksum, rows: ordered, newSalt: salts() })).toEqual(general);
      }),
      { numRuns: 500 },
    );
  });

  test('bad input is refused by both, with the same error', () => {
    const corruption = fc.oneof(
      fc.constant({ at: 'value', value: '\ud800' }),
      fc.constant({ at: 'value', value: 'a\udfff' }),
      fc.constant({ at: 'value', value: undefined }),
      fc.constant({ at: 'value', value: 7 }),
      fc.constant({ at: 'values', value: 'short' }),
      fc.constant({ at: 'values', value: 'long' }),
      fc.constant({ at: 'chainKey', value: '\udc00' }),
      fc.constant({ at: 'chainKey', value: 5 }),
      fc.constant({ at: 'chainKey', value: undefined }),
      fc.constantFrom(...['0', '01', '-1', '9223372036854775808', '1.0', '', ' 1'].map((value) => ({ at: 'chainSeq', value }))),
      fc.constantFrom(...['', 'A'.repeat(64), '0'.repeat(63), 'g'.repeat(64)].map((value) => ({ at: 'prevChecksum', value }))),
      fc.constantFrom(...['', '0'.repeat(64), 'F'.repeat(32)].map((value) => ({ at: 'salt', value }))),
    );
    fc.assert(
      fc.property(caseArbitrary, corruption, fc.nat(), ({ columns, rows }, bad, where) => {
        const layout = formatV2Layout(columns);
        const fast = compileLayoutV2(layout);
        const row: any = { ...rows[0]!, values: [...rows[0]!.values] };
        if (bad.at === 'value') row.values[where % row.values.length] = bad.value;
        else if (bad.at === 'values') row.values = bad.value === 'short' ? row.values.slice(1) : [...row.values, null];
        else row[bad.at] = bad.value;
        const general = outcome(() => layout.seal(row, row.prevChecksum, row.salt));
        expect(outcome(() => fast.seal(row, row.prevChecksum, row.salt))).toEqual(general);
        expect(outcome(() => fast.checksumInput(row, row))).toEqual(outcome(() => layout.checksumInput(row, row)));
        expect(outcome(() => fast.personalDigestInput(row.values, row.salt))).toEqual(outcome(() => layout.personalDigestInput(row.values, row.salt)));
        // A corruption the general implementation accepts (e.g. a lone surrogate in a column
        // the chosen call does not read) is accepted by both; otherwise it is a CanonicalFormError.
        if ((general as { error?: string }).error !== undefined) expect((general as { error: string }).error).toBe(CanonicalFormError.name);
      }),
      { numRuns: 1000 },
    );
  });

  test('audit_logs: built once, the same object on every use', () => {
    expect(compiledLayoutV2(AUDIT_LOGS_V2)).toBe(compiledLayoutV2(AUDIT_LOGS_V2));
  });
});
