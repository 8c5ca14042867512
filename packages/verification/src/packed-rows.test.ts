// Packed rows leave out what the receiving thread can restore (a segment's
// org_id after its first row, a prev_checksum equal to the row before's
// checksum): unpacking must give back exactly the links that were packed, in
// order, whatever the rows (NULL links, org_id changing mid-segment, rows sent
// whole because their content check failed or threw).
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { StoredRow } from '@audit-chain/chain';
import { addCheckedRow, emptyPackedRows, unpackRows } from './packed-rows.ts';

const hex = (n: number) => n.toString(16).padStart(64, '0');
const checksum = fc.option(fc.integer({ min: 0, max: 3 }).map(hex), { nil: null });

interface RowSpec {
  orgId: string | null;
  prevChecksum: string | null;
  checksum: string | null;
  checksumVersion: number | null;
  redacted: boolean;
  /** Link to the row before (when there is one) instead of prevChecksum. */
  chained: boolean;
}

const rowsArb: fc.Arbitrary<RowSpec[]> = fc.array(
  fc.record({
    orgId: fc.constantFrom<string | null>(null, '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'),
    prevChecksum: checksum,
    checksum,
    checksumVersion: fc.constantFrom<number | null>(null, 2, 9),
    redacted: fc.boolean(),
    chained: fc.boolean(),
  }),
  { maxLength: 30 },
);

function storedRows(specs: RowSpec[]): StoredRow[] {
  const rows: StoredRow[] = [];
  for (const [index, spec] of specs.entries()) {
    const before = rows[index - 1];
    rows.push({
      id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
      orgId: spec.orgId,
      chainSeq: String(index + 1),
      occurredAt: '2026-01-01T00:00:00.000000Z',
      recordedAt: '2026-01-01T00:00:00.000000Z',
      actorType: 'user',
      actorId: null,
      actorEmail: null,
      action: 'a',
      resourceType: null,
      resourceId: null,
      resourceName: null,
      details: null,
      ipAddress: null,
      userAgent: null,
      result: 'success',
      errorMessage: null,
      // The usual intact link (left out when packed), or any other.
      prevChecksum: spec.chained && before ? before.checksum : spec.prevChecksum,
      checksum: spec.checksum,
      checksumVersion: spec.checksum === null ? null : spec.checksumVersion,
      piiDigest: null,
      piiSalt: null,
      redacted: spec.redacted,
      v2Values: null,
    });
  }
  return rows;
}

const links = (row: Pick<StoredRow, 'id' | 'orgId' | 'chainSeq' | 'prevChecksum' | 'checksum' | 'checksumVersion' | 'redacted'>) => ({
  id: row.id,
  orgId: row.orgId,
  chainSeq: row.chainSeq,
  prevChecksum: row.prevChecksum,
  checksum: row.checksum,
  checksumVersion: row.checksumVersion,
  redacted: row.redacted,
});

describe('packed rows', () => {
  test('unpacking gives back the packed links, in order', () => {
    fc.assert(
      fc.property(rowsArb, (specs) => {
        const rows = storedRows(specs);
        const packed = structuredClone((() => {
          const p = emptyPackedRows();
          for (const row of rows) addCheckedRow(p, row);
          return p;
        })());
        // What was left out: every link equal to the row before's checksum, and org_id after the first row when unchanged.
        const sentOnce = rows.filter((row, at) => at > 0 && row.prevChecksum !== null && row.prevChecksum === rows[at - 1]!.checksum).length;
        expect(packed.prevChecksum.filter((value) => value === undefined)).toHaveLength(sentOnce);
        expect(packed.orgId.filter((value) => value === undefined)).toHaveLength(rows.filter((row, at) => at > 0 && row.orgId === rows[at - 1]!.orgId).length);
        const unpacked = [...unpackRows(packed)];
        expect(unpacked.map((checked) => links(checked.row))).toEqual(rows.map(links));
        // A checked v2 row here has no values: its check throws, so it is sent whole without a verdict.
        for (const [index, checked] of unpacked.entries()) {
          const row = rows[index]!;
          if (row.checksum !== null && row.checksumVersion === 2) expect(checked).toEqual({ row });
          else expect(checked.content).toBeNull();
        }
      }),
      { numRuns: 300 },
    );
  });
});
