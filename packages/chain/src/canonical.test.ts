// Format v1 edge cases beyond the vectors: what the canonical form refuses, and
// which differences it must keep apart.
import { describe, expect, it } from 'vitest';
import { CanonicalFormError, checksumInput, personalDigest, rowChecksum, type JsonValue, type RowContent } from './index.ts';
import { makeRow, ORG_A } from './test-fixtures.ts';

const PREV = 'a'.repeat(64);
const DIGEST = 'b'.repeat(64);
const SALT = 'c'.repeat(32);
const checksum = (row: RowContent): string => rowChecksum(row, PREV, DIGEST);

describe('canonical form v1', () => {
  const row = makeRow(ORG_A, 7);

  it('keeps SQL NULL, the empty string and JSON null apart', () => {
    const nullable = ['actorId', 'resourceType', 'resourceId', 'resourceName', 'errorMessage'] as const;
    for (const field of nullable) {
      expect(checksum({ ...row, [field]: null }), field).not.toBe(checksum({ ...row, [field]: '' }));
    }
    expect(checksum({ ...row, details: null })).not.toBe(checksum({ ...row, details: { json: null } }));
    expect(checksum({ ...row, details: { json: '' } })).not.toBe(checksum({ ...row, details: { json: null } }));
    for (const field of ['actorEmail', 'ipAddress', 'userAgent'] as const) {
      expect(personalDigest({ ...row, [field]: null }, SALT), field).not.toBe(personalDigest({ ...row, [field]: '' }, SALT));
    }
  });

  it('covers every content column, org_id included', () => {
    const base = checksum(row);
    const changes: Partial<RowContent>[] = [
      { id: '00000000-0000-4000-8000-999999999999' },
      { orgId: null },
      { chainSeq: '8' },
      { occurredAt: '2026-11-23T01:02:03.456790Z' },
      { recordedAt: '2026-11-23T01:02:03.500001Z' },
      { actorType: 'api_key' },
      { actorId: 'u-8' },
      { action: 'thing.delete' },
      { resourceType: 'other' },
      { resourceId: 't-8' },
      { resourceName: 'x' },
      { details: { json: { n: 7, tags: ['b', 'a'] } } },
      { result: 'failure' },
      { errorMessage: 'boom' },
    ];
    for (const change of changes) expect(checksum({ ...row, ...change }), JSON.stringify(change)).not.toBe(base);
    expect(rowChecksum(row, 'd'.repeat(64), DIGEST)).not.toBe(base);
    expect(rowChecksum(row, PREV, 'e'.repeat(64))).not.toBe(base);
  });

  it('commits to the personal fields only through pii_digest', () => {
    expect(checksum({ ...row, actorEmail: null, ipAddress: null, userAgent: null })).toBe(checksum(row));
    expect(personalDigest({ ...row, actorEmail: 'other@example.com' }, SALT)).not.toBe(personalDigest(row, SALT));
    expect(personalDigest(row, 'd'.repeat(32))).not.toBe(personalDigest(row, SALT));
  });

  it('does not depend on the order of keys in details', () => {
    const a = { ...row, details: { json: { b: 1, a: { d: 2, c: 3 } } } };
    const b = { ...row, details: { json: { a: { c: 3, d: 2 }, b: 1 } } };
    expect(checksum(a)).toBe(checksum(b));
    expect(checksumInput(a, PREV, DIGEST)).toContain('"details":[{"a":{"c":3,"d":2},"b":1}]');
  });

  const refusals: [string, Partial<RowContent> | ((row: RowContent) => RowContent), RegExp][] = [
    ['an undefined nullable column', { actorId: undefined as unknown as null }, /actor_id: got undefined, want a string or null/],
    ['a missing column', (r) => { const { resourceName: _dropped, ...rest } = r; return rest as RowContent; }, /resource_name: got undefined/],
    ['an uppercase uuid', { id: '00000000-0000-4000-8000-00000000000A' }, /id: got .*want a lowercase UUID/],
    ['a chain_seq with a leading zero', { chainSeq: '07' }, /chain_seq: got "07"/],
    ['a chain_seq beyond bigint', { chainSeq: '9223372036854775808' }, /chain_seq: got/],
    ['a timestamp with milliseconds', { occurredAt: '2026-11-23T01:02:03.456Z' }, /occurred_at: got/],
    ['a timestamp with an offset', { occurredAt: '2026-11-23T01:02:03.456789+01:00' }, /occurred_at: got/],
    ['year 0000', { occurredAt: '0000-01-01T00:00:00.000000Z' }, /occurred_at: got .*real calendar date/],
    ['year 10000', { recordedAt: '10000-01-01T00:00:00.000000Z' }, /recorded_at: got/],
    ['February 30th', { occurredAt: '2026-02-30T00:00:00.000000Z' }, /real calendar date/],
    ['hour 24', { occurredAt: '2026-02-03T24:00:00.000000Z' }, /real calendar date/],
    ['a Date in details', { details: { json: { at: new Date(0) as unknown as string } } }, /details\."at": got \[object Date\], want a plain JSON object/],
    ['undefined in details', { details: { json: { a: undefined as unknown as null } } }, /details\."a": got undefined/],
    ['NaN in details', { details: { json: [1, Number.NaN] } }, /details\[1\]: got NaN, want a finite number/],
    ['a bigint in details', { details: { json: [10n as unknown as number] } }, /details\[0\]: got 10n/],
    ['a lone surrogate in details', { details: { json: { k: '\ud800' } } }, /lone surrogate/],
    ['a lone surrogate in a text column', { action: 'x\udc00' }, /action: got a string with a lone surrogate/],
    ['details that are not wrapped', { details: 'plain' as unknown as null }, /details: got string, want null \(SQL NULL\) or \{ json: value \}/],
  ];
  for (const [what, change, message] of refusals) {
    it(`refuses ${what}`, () => {
      const bad = typeof change === 'function' ? change(row) : { ...row, ...change };
      expect(() => checksumInput(bad, PREV, DIGEST)).toThrow(CanonicalFormError);
      expect(() => checksumInput(bad, PREV, DIGEST)).toThrow(message);
    });
  }

  it('refuses malformed chain values and personal fields', () => {
    expect(() => checksumInput(row, 'A'.repeat(64), DIGEST)).toThrow(/prev_checksum: got "A{64}", want 64 lowercase hex digits/);
    expect(() => checksumInput(row, PREV, 'b'.repeat(63))).toThrow(/pii_digest: got/);
    expect(() => personalDigest(row, 'C'.repeat(32))).toThrow(/pii_salt: got/);
    expect(() => personalDigest({ ...row, userAgent: undefined as unknown as null }, SALT)).toThrow(/user_agent: got undefined/);
  });

  it('handles deeply nested details without overflowing the stack', () => {
    let json: JsonValue = 1;
    for (let i = 0; i < 20_000; i += 1) json = [json];
    expect(checksum({ ...row, details: { json: json } })).toMatch(/^[0-9a-f]{64}$/);
  });
});
