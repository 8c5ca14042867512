// The package and the independent Python reference against the committed
// format v2 vectors (test-vectors/v2.json); the reference must also reject
// broken copies. (That the encodings are still what PostgreSQL produces is
// checked against a server in test/format-v2/vectors.test.ts.)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GENESIS_PREV_CHECKSUM } from '../canonical.ts';
import { formatV2Layout } from './canonical-v2.ts';
import type { CoveredColumn } from './column-encoding.ts';
import { checkRowV2 } from './seal-v2.ts';

const script = fileURLToPath(new URL('../../reference/verify_vectors.py', import.meta.url));
const text = readFileSync(new URL('../../test-vectors/v2.json', import.meta.url), 'utf8');

interface RowCase {
  name: string;
  columns: CoveredColumn[];
  chain_key: string | null;
  chain_seq: string;
  values: (string | null)[];
  redacted: boolean;
  before_redaction?: { values: (string | null)[]; pii_salt: string };
  pii_salt: string | null;
  personal_digest_input: string;
  pii_digest: string;
  prev_checksum: string;
  checksum_input: string;
  checksum: string;
}

const vectors = JSON.parse(text) as { format: number; rows: RowCase[]; chains: { rows: string[]; head_checksum: string; sealed_count: string }[] };

function reference(input: unknown): { status: number | null; output: string } {
  const result = spawnSync('python3', [script, '-'], { input: JSON.stringify(input), encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('format v2 test vectors', () => {
  it.each(vectors.rows.map((row) => [row.name, row] as const))('%s: the package computes the committed bytes and checksum', (_name, row) => {
    const layout = formatV2Layout(row.columns);
    const digestValues = row.redacted ? row.before_redaction!.values : row.values;
    const salt = row.redacted ? row.before_redaction!.pii_salt : row.pii_salt!;
    expect(layout.personalDigestInput(digestValues, salt)).toBe(row.personal_digest_input);
    expect(layout.personalDigest(digestValues, salt)).toBe(row.pii_digest);
    const input = layout.checksumInput({ chainKey: row.chain_key, chainSeq: row.chain_seq, values: row.values }, { prevChecksum: row.prev_checksum, piiDigest: row.pii_digest });
    expect(input).toBe(row.checksum_input);
    const stored = { chainKey: row.chain_key, chainSeq: row.chain_seq, values: row.values, prevChecksum: row.prev_checksum, checksum: row.checksum, piiDigest: row.pii_digest, piiSalt: row.pii_salt, redacted: row.redacted };
    expect(checkRowV2(layout, stored)).toBeNull();
    expect(checkRowV2(layout, { ...stored, chainSeq: `${row.chain_seq}0` })?.part).toBe('checksum');
  });

  it('the chain links from genesis to its head', () => {
    for (const chain of vectors.chains) {
      let prev = GENESIS_PREV_CHECKSUM;
      for (const name of chain.rows) {
        const row = vectors.rows.find((candidate) => candidate.name === name)!;
        expect(row.prev_checksum).toBe(prev);
        prev = row.checksum;
      }
      expect(chain.head_checksum).toBe(prev);
      expect(chain.sealed_count).toBe(String(chain.rows.length));
    }
  });

  it('the independent reference accepts them', () => {
    const { status, output } = reference(vectors);
    expect(output).toMatch(/^ok: \d+ encodings, 5 row vectors, 1 chains, 0 failures \(stdin\)$/m);
    expect(status).toBe(0);
  });

  const breakages: [string, (v: any) => void][] = [
    ['a checksum digit', (v) => { v.rows[0].checksum = (v.rows[0].checksum[0] === '0' ? '1' : '0') + v.rows[0].checksum.slice(1); }],
    ['a value', (v) => { v.rows[2].values[v.rows[2].values.indexOf('infinity')] = '-infinity'; }],
    ['a column type', (v) => { v.rows[4].columns[2].type = 'timestamp(6) without time zone'; }],
    ['a personal column made content', (v) => { v.rows[4].columns[4].personal = false; }],
    ['members out of RFC 8785 order', (v) => { v.rows[1].checksum_input = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(v.rows[1].checksum_input)).reverse())); }],
    ['a redacted row that kept a personal value', (v) => { v.rows[1].values[6] = 'bob@example.com'; }],
    ['a broken link', (v) => { v.rows[2].prev_checksum = v.rows[0].checksum; }],
    ['a timestamp text outside the grammar', (v) => { v.encodings.find((e: any) => e.type === 'timestamp with time zone').text = '2026-11-23 01:02:03.456789+00'; }],
  ];
  it.each(breakages)('the reference rejects a copy with %s changed', (_what, change) => {
    const copy = JSON.parse(text);
    change(copy);
    const { status, output } = reference(copy);
    expect(output).toContain('FAIL ');
    expect(status).toBe(1);
  });
});
