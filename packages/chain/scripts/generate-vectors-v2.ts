// Generates test-vectors/v2.json: (1) per-type encodings, each value's canonical
// text as PostgreSQL produces it with the expression format v2 specifies; (2) row
// cases (audit_logs and a product's own table) with their digest inputs and
// checksums; (3) a three-row chain from genesis. Run when the vectors change:
//   DATABASE_URL=postgres://... node packages/chain/scripts/generate-vectors-v2.ts
// The file is then checked by the package's tests, by a database test that the
// encodings still match PostgreSQL (test/format-v2/vectors.test.ts), and by the
// independent reference (reference/verify_vectors.py).
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { AUDIT_LOGS_COLUMNS_V2, formatV2Layout, GENESIS_PREV_CHECKSUM, valueSql, type CoveredColumn } from '../src/index.ts';

/** [type, SQL literal] pairs; the literal is cast to the type. */
const ENCODINGS: [string, string][] = [
  ['text', `'plain'`], ['text', `''`], ['text', `E'e\\u0301 and \\u00e9, tab\\t, quote ", backslash \\\\'`], ['text', `'😀｡'`],
  ['character varying(10)', `'abc'`], ['character(5)', `'ab'`], ['bpchar', `'a '`],
  ['uuid', `'C0FFEE00-1234-4ABC-8DEF-00000000BEEF'`],
  ['smallint', `-32768`], ['integer', `2147483647`], ['bigint', `9223372036854775807`],
  ['numeric', `1`], ['numeric', `1.0`], ['numeric', `1.00`], ['numeric', `-0.000`], ['numeric', `'NaN'`], ['numeric', `'Infinity'`],
  ['numeric(40,3)', `123456789012345678901234567890.1`], ['numeric', `9007199254740993`],
  ['boolean', `true`], ['boolean', `false`],
  ['double precision', `0.1`], ['double precision', `'-0'`], ['double precision', `'NaN'`], ['double precision', `'-Infinity'`], ['double precision', `1e308`], ['real', `0.1`],
  ['timestamp with time zone', `'2026-11-23 01:02:03.456789+00'`], ['timestamp with time zone', `'2026-11-23 01:02:03+05:30'`],
  ['timestamp with time zone', `'0001-01-01T00:00:00+15:00'`], ['timestamp with time zone', `'0001-01-01T00:00:00Z'`],
  ['timestamp with time zone', `'9999-12-31T23:59:59-15:59'`], ['timestamp with time zone', `'4714-11-24 00:00:00+00 BC'`],
  ['timestamp with time zone', `'294276-12-31 23:59:59.999999+00'`], ['timestamp with time zone', `'infinity'`], ['timestamp with time zone', `'-infinity'`],
  ['timestamp(3) without time zone', `'2026-11-23 01:02:03.456'`], ['timestamp without time zone', `'0044-03-15 12:00 BC'`], ['timestamp without time zone', `'infinity'`],
  ['date', `'2024-02-29'`], ['date', `'0001-01-01 BC'`], ['date', `'5874897-12-31'`], ['date', `'-infinity'`],
  ['time without time zone', `'23:59:59.999999'`], ['time with time zone', `'12:34:56.5+05:30'`],
  ['interval', `'1 mon 2 days 00:00:03.000004'`], ['interval', `'-1 year'`],
  ['bytea', `'\\x00ff10'`], ['bytea', `''`],
  ['inet', `'192.0.2.10'`], ['inet', `'192.0.2.10/24'`], ['inet', `'192.0.2.0/24'`], ['inet', `'::ffff:192.0.2.1'`], ['inet', `'2001:db8::1:0:0:1/128'`],
  ['cidr', `'192.0.2.0/24'`], ['cidr', `'2001:db8::/32'`],
  ['json', `'{"b": 1.0,  "a": 1e400, "a": 2}'`], ['jsonb', `'{"b": 1.0,  "a": 1e400, "a": 2}'`],
  ['jsonb', `'{"n": 9007199254740993}'`], ['jsonb', `'{"n": 9007199254740992}'`], ['jsonb', `'"\\u00e9"'`], ['jsonb', `'null'`],
  ['v2_vector_mood', `'with space'`], ['money', `12.34`],
  ['text[]', `'{a,NULL,"NULL","",with space,"{}"}'`], ['integer[]', `'[0:1]={1,2}'`], ['integer[]', `'{{1,2},{3,4}}'`], ['integer[]', `'{}'`],
  ['timestamp with time zone[]', `array['-infinity', null, '2026-01-01 00:00:00.5+00']::timestamptz[]`],
  ['double precision[]', `'{0.1,-0,NULL}'`], ['bytea[]', `'{"\\\\x01",NULL}'`], ['inet[]', `'{192.0.2.1,192.0.2.0/24}'`],
];

/** Deterministic salts so the file is reproducible; real salts are random. */
function saltFor(name: string): string {
  return createHash('sha256').update(`audit-chain v2 test vector salt ${name}`).digest('hex').slice(0, 32);
}

const ORG = 'c0ffee00-1234-4abc-8def-00000000beef';

/** A product's own audit table, as `attach` would cover it. */
const PRODUCT_COLUMNS: CoveredColumn[] = [
  { name: 'id', type: 'text', personal: false },
  { name: 'tenantId', type: 'uuid', personal: false },
  { name: 'createdAt', type: 'timestamp(3) without time zone', personal: false },
  { name: 'action', type: 'audit_action', personal: false },
  { name: 'ip', type: 'text', personal: true },
  { name: 'email', type: 'character varying(255)', personal: true },
  { name: 'snapshot', type: 'jsonb', personal: false },
  { name: 'tags', type: 'text[]', personal: false },
  { name: 'amount', type: 'numeric(12,2)', personal: false },
];

interface RowSpec {
  name: string;
  description: string;
  table: 'audit_logs' | 'product';
  chainKey: string | null;
  chainSeq: string;
  /** SQL expression per column (cast to its type), in the table's column order. */
  sql: string[];
  redact?: boolean;
  after?: string;
}

const AUDIT = (overrides: Record<string, string>, seq: string): string[] => {
  const base: Record<string, string> = {
    id: `'00000000-0000-4000-8000-${seq.padStart(12, '0')}'`, org_id: `'${ORG}'`, occurred_at: `'2026-11-23T01:02:03.456789Z'`,
    recorded_at: `'2026-11-23T01:02:03.5Z'`, actor_type: `'user'`, actor_id: `'u-42'`, actor_email: `'alice@example.com'`, action: `'project.create'`,
    resource_type: `'project'`, resource_id: `'p-1'`, resource_name: `'Apollo'`, details: `'{"plan": "pro"}'`, ip_address: `'192.0.2.10'`,
    user_agent: `'Mozilla/5.0'`, result: `'success'`, error_message: 'null',
  };
  return AUDIT_LOGS_COLUMNS_V2.map((column) => overrides[column.name] ?? base[column.name]!);
};

const ROWS: RowSpec[] = [
  { name: 'chain-1', description: 'audit_logs, first row of the chain of org c0ffee00-…: links to genesis.', table: 'audit_logs', chainKey: ORG, chainSeq: '101', sql: AUDIT({}, '101') },
  {
    name: 'chain-2-redacted',
    description: 'audit_logs, second row; its personal values and salt were erased after sealing: pii_digest is used as stored.',
    table: 'audit_logs', chainKey: ORG, chainSeq: '205', after: 'chain-1', redact: true,
    sql: AUDIT({ actor_email: `'bob@example.com'`, ip_address: `'198.51.100.7'`, user_agent: `'curl/8.5.0'`, action: `'project.update'`, details: `'{"changes": {"name": ["apollo", "Apollo"]}}'` }, '205'),
  },
  {
    name: 'chain-3',
    description: 'audit_logs, third row: values format v1 could not hash exactly or at all (1 BC, infinity, jsonb numbers beyond a double, 1.0).',
    table: 'audit_logs', chainKey: ORG, chainSeq: '206', after: 'chain-2-redacted',
    sql: AUDIT({ occurred_at: `'0001-01-01T00:00:00+15:00'`, recorded_at: `'infinity'`, details: `'{"big": 1e400, "exact": 9007199254740993, "scale": 1.0}'`, actor_email: 'null', error_message: `'missing scope'`, result: `'denied'` }, '206'),
  },
  {
    name: 'system-chain-nulls',
    description: 'audit_logs, the system chain (chain key null, org_id NULL): NULL against the empty string, a JSON null in details.',
    table: 'audit_logs', chainKey: null, chainSeq: '7',
    sql: AUDIT({ org_id: 'null', actor_id: `''`, resource_type: 'null', resource_id: `''`, resource_name: 'null', details: `'null'`, ip_address: 'null', user_agent: `''` }, '7'),
  },
  {
    name: 'product-row',
    description: 'A product\'s own table (camelCase columns, an enum, timestamp without time zone, text[], numeric with scale) chained by tenantId.',
    table: 'product', chainKey: 'a7d2c4e0-0000-4000-8000-000000000001', chainSeq: '42',
    sql: [`'ckz8q1x0a0000qzrm'`, `'a7d2c4e0-0000-4000-8000-000000000001'`, `'2026-11-23 01:02:03.4'`, `'user.login'`, `'unknown'`, `'Carol@Example.com'`, `'{"before": null, "after": {"role": "admin"}}'`, `'{mfa,"with space",NULL}'`, `10.50`],
  },
];

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required: the encodings are read from PostgreSQL');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('begin');
    await client.query(`create type v2_vector_mood as enum ('happy', 'with space')`);
    await client.query(`create type audit_action as enum ('user.login', 'user.logout')`);
    const version = (await client.query<{ v: string }>('show server_version')).rows[0]!.v;
    const encodings = [];
    for (const [type, literal] of ENCODINGS) {
      const read = valueSql('x.v', type);
      const text = (await client.query<{ t: string | null }>(`select ${read} as t from (select (${literal})::${type} as v) x`)).rows[0]!.t;
      encodings.push({ type, literal, sql: read.replaceAll('(x.v)', '(c)').replaceAll('x.v', 'c'), text });
    }
    const checksums = new Map<string, string>();
    const rows = [];
    const chain = [];
    for (const spec of ROWS) {
      const columns = spec.table === 'audit_logs' ? AUDIT_LOGS_COLUMNS_V2 : PRODUCT_COLUMNS;
      const layout = formatV2Layout(columns);
      const select = columns.map((column, index) => `${valueSql(`(${spec.sql[index]})::${column.type}`, column.type)} as v${index}`).join(', ');
      const result = (await client.query(`select ${select}`)).rows[0]!;
      const values = columns.map((_, index) => result[`v${index}`] as string | null);
      const salt = saltFor(spec.name);
      const prev = spec.after === undefined ? GENESIS_PREV_CHECKSUM : checksums.get(spec.after)!;
      const row = { chainKey: spec.chainKey, chainSeq: spec.chainSeq, values };
      const piiDigest = layout.personalDigest(values, salt);
      const checksum = layout.checksum(row, { prevChecksum: prev, piiDigest });
      checksums.set(spec.name, checksum);
      const personal = layout.personalIndexes();
      const stored = spec.redact ? values.map((value, index) => (personal.includes(index) ? null : value)) : values;
      rows.push({
        name: spec.name,
        description: spec.description,
        columns,
        chain_key: spec.chainKey,
        chain_seq: spec.chainSeq,
        values: stored,
        redacted: spec.redact === true,
        ...(spec.redact ? { before_redaction: { values, pii_salt: salt } } : {}),
        pii_salt: spec.redact ? null : salt,
        personal_digest_input: layout.personalDigestInput(values, salt),
        pii_digest: piiDigest,
        prev_checksum: prev,
        checksum_version: 2,
        checksum_input: layout.checksumInput(row, { prevChecksum: prev, piiDigest }),
        checksum,
      });
      if (spec.name.startsWith('chain-')) chain.push(spec.name);
    }
    await client.query('rollback');
    const file = {
      format: 2,
      description: 'Test vectors of audit-chain format v2 (docs/chain-format.md, "Format v2"). Encodings: each value\'s canonical text as PostgreSQL produced it with the given expression (c stands for the column). Rows: checksum_version 2 rows of audit_logs and of a product table.',
      generated_by: `packages/chain/scripts/generate-vectors-v2.ts against PostgreSQL ${version}`,
      encodings,
      rows,
      chains: [{ name: 'org-chain', description: 'chain-1, chain-2-redacted, chain-3 in chain_seq order from genesis', rows: chain, head_checksum: checksums.get('chain-3'), sealed_count: '3' }],
    };
    writeFileSync(fileURLToPath(new URL('../test-vectors/v2.json', import.meta.url)), `${JSON.stringify(file, null, 2)}\n`);
    console.log(`wrote ${encodings.length} encodings, ${rows.length} rows`);
  } finally {
    await client.end();
  }
}

await main();
