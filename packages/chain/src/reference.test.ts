// Runs the independent Python reference implementation (reference/verify_vectors.py)
// over the committed vectors, over deliberately broken copies (it must fail), and
// over randomly generated rows computed by this package (the two must agree).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checksumInput, personalDigest, personalDigestInput, rowChecksum, type JsonValue, type RowContent } from './index.ts';

const script = fileURLToPath(new URL('../reference/verify_vectors.py', import.meta.url));
const vectorsText = readFileSync(new URL('../test-vectors/v1.json', import.meta.url), 'utf8');

function runReference(input?: unknown): { status: number | null; output: string } {
  const result = spawnSync('python3', input === undefined ? [script] : [script, '-'], {
    input: input === undefined ? undefined : JSON.stringify(input),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function mutated(change: (vectors: any) => void): unknown {
  const copy = JSON.parse(vectorsText);
  change(copy);
  return copy;
}

function rowCase(vectors: any, name: string): any {
  const found = vectors.rows.find((row: { name: string }) => row.name === name);
  if (!found) throw new Error(`no vector named ${name}`);
  return found;
}

describe('independent reference implementation (python3)', () => {
  it('accepts the committed vectors', () => {
    const { status, output } = runReference();
    expect(output).toContain('ok: ');
    expect(status).toBe(0);
  });

  const breakages: [string, string, (vectors: any) => void][] = [
    ['a checksum with one digit changed', 'basic-org-row', (v) => {
      const c = rowCase(v, 'basic-org-row');
      c.checksum = (c.checksum[0] === '0' ? '1' : '0') + c.checksum.slice(1);
    }],
    ['a checksum input with members out of RFC 8785 order', 'unicode-strings', (v) => {
      const c = rowCase(v, 'unicode-strings');
      const parsed = JSON.parse(c.checksum_input);
      c.checksum_input = JSON.stringify(Object.fromEntries(Object.entries(parsed).reverse()));
    }],
    ['details keys in code point order instead of UTF-16 order', 'details-key-order', (v) => {
      const c = rowCase(v, 'details-key-order');
      c.checksum_input = c.checksum_input.replace('"😀":3,"｡":4', '"｡":4,"😀":3');
    }],
    ['a number in details changed in the last digit', 'details-numbers', (v) => {
      const c = rowCase(v, 'details-numbers');
      c.row.details = c.row.details.replace('1.50]', '1.51]');
    }],
    ['a wrong pii_digest on the redacted row', 'chain-2-redacted', (v) => {
      rowCase(v, 'chain-2-redacted').before_redaction.actor_email = 'mallory@example.com';
    }],
    ['a broken link in the chain', 'three rows from genesis', (v) => {
      rowCase(v, 'chain-3').prev_checksum = rowCase(v, 'chain-1').checksum;
    }],
    ['a tampered checkpoint marked valid', 'tampered-sealed-count', (v) => {
      v.checkpoints.find((c: { name: string }) => c.name === 'tampered-sealed-count').valid = true;
    }],
  ];
  for (const [what, name, change] of breakages) {
    it(`rejects vectors with ${what}`, () => {
      const { status, output } = runReference(mutated(change));
      expect(output).toContain(`FAIL `);
      expect(output).toContain(name);
      expect(status).toBe(1);
    });
  }

  it('agrees with the package on 300 random rows', () => {
    const random = mulberry32(0x5eed);
    const rows = Array.from({ length: 300 }, (_, i) => randomCase(random, i));
    const { status, output } = runReference({ rows });
    expect(output).toContain('ok: 300 row vectors');
    expect(status).toBe(0);
  });
});

// Deterministic PRNG, so a disagreement can be reproduced.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const int = (random: Random, below: number): number => Math.floor(random() * below);

const CODE_POINT_RANGES: [number, number][] = [
  [0x20, 0x7e], [0x20, 0x7e], [0x1, 0x1f], [0x7f, 0xff], [0x300, 0x36f], [0x590, 0x5ff], [0x2028, 0x2029],
  [0x4e00, 0x9fff], [0xe000, 0xffff], [0x10000, 0x1ffff], [0x1f600, 0x1f64f], [0x100000, 0x10ffff],
];

function randomString(random: Random, maxLength = 12): string {
  let text = '';
  const length = int(random, maxLength + 1);
  for (let i = 0; i < length; i += 1) {
    const [low, high] = pick(random, CODE_POINT_RANGES);
    text += String.fromCodePoint(low + int(random, high - low + 1));
  }
  return text;
}

function randomNumber(random: Random): number {
  switch (int(random, 6)) {
    case 0:
      return int(random, 1000) - 500;
    case 1:
      return (random() - 0.5) * 10 ** (int(random, 60) - 30);
    case 2:
      return pick(random, [1e21, 1e20, 999999999999999900000, 1e-6, 1e-7, 0.1, 2 ** 53, 2 ** 53 + 2, 5e-324, 1.7976931348623157e308, 123456789012345680000]);
    case 3: {
      const bytes = new Uint32Array([Math.floor(random() * 2 ** 32), Math.floor(random() * 2 ** 32)]);
      const value = new Float64Array(bytes.buffer)[0]!;
      return Number.isFinite(value) ? value : 0;
    }
    case 4:
      return Number(`${int(random, 10 ** 9)}${int(random, 10 ** 9)}${int(random, 10 ** 3)}`);
    default:
      return random() * 10 ** int(random, 25);
  }
}

function randomJson(random: Random, depth: number): JsonValue {
  const kind = int(random, depth > 2 ? 4 : 7);
  if (kind === 0) return null;
  if (kind === 1) return random() < 0.5;
  if (kind === 2) return randomNumber(random);
  if (kind === 3) return randomString(random);
  if (kind === 4) return Array.from({ length: int(random, 4) }, () => randomJson(random, depth + 1));
  const object: Record<string, JsonValue> = {};
  for (let i = int(random, 6); i > 0; i -= 1) object[randomString(random, 4)] = randomJson(random, depth + 1);
  return object;
}

const hex = (random: Random, digits: number): string => Array.from({ length: digits }, () => int(random, 16).toString(16)).join('');
const nullable = <T>(random: Random, value: () => T): T | null => (random() < 0.25 ? null : value());

function randomTimestamp(random: Random): string {
  const year = 1 + int(random, 9999);
  const month = 1 + int(random, 12);
  const day = 1 + int(random, 28);
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(int(random, 24))}:${pad(int(random, 60))}:${pad(int(random, 60))}.${pad(int(random, 1_000_000), 6)}Z`;
}

function randomCase(random: Random, index: number): Record<string, unknown> {
  const uuid = (): string => `${hex(random, 8)}-${hex(random, 4)}-4${hex(random, 3)}-8${hex(random, 3)}-${hex(random, 12)}`;
  const detailsText = nullable(random, () => JSON.stringify(randomJson(random, 0)));
  const row = {
    id: uuid(),
    org_id: nullable(random, uuid),
    chain_seq: String(1n + BigInt(`0x${hex(random, 15)}`)),
    occurred_at: randomTimestamp(random),
    recorded_at: randomTimestamp(random),
    actor_type: randomString(random),
    actor_id: nullable(random, () => randomString(random)),
    actor_email: nullable(random, () => randomString(random)),
    action: randomString(random),
    resource_type: nullable(random, () => randomString(random)),
    resource_id: nullable(random, () => randomString(random)),
    resource_name: nullable(random, () => randomString(random, 40)),
    details: detailsText,
    ip_address: nullable(random, () => pick(random, ['192.0.2.1', '10.0.0.0/8', '2001:db8::1', '::ffff:1.2.3.4'])),
    user_agent: nullable(random, () => randomString(random, 30)),
    result: pick(random, ['success', 'failure', 'denied']),
    error_message: nullable(random, () => randomString(random, 30)),
  };
  const content: RowContent = {
    id: row.id,
    orgId: row.org_id,
    chainSeq: row.chain_seq,
    occurredAt: row.occurred_at,
    recordedAt: row.recorded_at,
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorEmail: row.actor_email,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    resourceName: row.resource_name,
    details: detailsText === null ? null : { json: JSON.parse(detailsText) },
    ipAddress: row.ip_address,
    userAgent: row.user_agent,
    result: row.result,
    errorMessage: row.error_message,
  };
  const salt = hex(random, 32);
  const prev = hex(random, 64);
  const digest = personalDigest(content, salt);
  return {
    name: `random-${index}`,
    row,
    redacted: false,
    pii_salt: salt,
    personal_digest_input: personalDigestInput(content, salt),
    pii_digest: digest,
    prev_checksum: prev,
    checksum_version: 1,
    checksum_input: checksumInput(content, prev, digest),
    checksum: rowChecksum(content, prev, digest),
  };
}
