// Properties of a verifier the chain state cannot steer (docs/threat-model.md):
// whatever watermark, head and count the database shows, every row that
// carries links is checked, and a state below the latest trusted checkpoint is
// a break. Chains, checkpoints, watermarks and edits are drawn by fast-check.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyChain } from './index.ts';
import { checkpointAt, ORG_A, sealedChain, stateOf, testKeys } from './test-fixtures.ts';

const { signer } = testKeys('property-key');

/** A chain of `length` sealed rows, a checkpoint index, a lower watermark index and an edited row between them. */
const loweredWatermark = fc
  .integer({ min: 2, max: 12 })
  .chain((length) =>
    fc.integer({ min: 1, max: length - 1 }).chain((checkpoint) =>
      fc.record({
        length: fc.constant(length),
        checkpoint: fc.constant(checkpoint),
        watermark: fc.integer({ min: -1, max: checkpoint - 1 }),
        edit: fc.option(fc.integer({ min: 0, max: length - 1 }), { nil: null }),
      }),
    ),
  )
  .filter(({ watermark, edit }) => edit === null || edit > watermark);

describe('a chain state the database controls does not steer verification', () => {
  it('a watermark (with head and count made consistent) below a trusted checkpoint is always a head_mismatch naming the checkpoint', async () => {
    await fc.assert(
      fc.asyncProperty(loweredWatermark, async ({ length, checkpoint, watermark, edit }) => {
        const { rows } = sealedChain(ORG_A, length);
        const trusted = await checkpointAt(rows, checkpoint, signer);
        const stored = rows.map((row, i) => (i === edit ? { ...row, action: `${row.action}.edited` } : row));
        const report = await verifyChain({ orgId: ORG_A, rows: stored, state: stateOf(rows.slice(0, watermark + 1)), checkpoints: [trusted] });
        expect(report.breaks).toContainEqual(expect.objectContaining({ kind: 'head_mismatch', expected: trusted.chain_seq, found: watermark < 0 ? '0' : rows[watermark]!.chainSeq }));
        if (edit !== null) expect(report.breaks).toContainEqual(expect.objectContaining({ kind: 'content_changed', chainSeq: rows[edit]!.chainSeq }));
      }),
      { numRuns: 60 },
    );
  });

  it('without checkpoints, a row edited above any watermark is still content_changed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }).chain((length) => fc.record({ length: fc.constant(length), watermark: fc.integer({ min: -1, max: length - 1 }), edit: fc.integer({ min: 0, max: length - 1 }) })),
        async ({ length, watermark, edit }) => {
          const { rows } = sealedChain(ORG_A, length);
          const stored = rows.map((row, i) => (i === edit ? { ...row, resourceId: 'swapped' } : row));
          const report = await verifyChain({ orgId: ORG_A, rows: stored, state: stateOf(rows.slice(0, watermark + 1)) });
          expect(report.breaks).toContainEqual(expect.objectContaining({ kind: 'content_changed', chainSeq: rows[edit]!.chainSeq }));
          expect(report.ok).toBe(false);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a clean chain with pending rows and checkpoints at or below its watermark has no break', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10 }).chain((length) =>
          fc.record({ length: fc.constant(length), pending: fc.integer({ min: 0, max: 4 }), checkpoints: fc.uniqueArray(fc.integer({ min: 0, max: length - 1 }), { maxLength: 3 }) }),
        ),
        async ({ length, pending, checkpoints }) => {
          const { rows, state } = sealedChain(ORG_A, length, pending);
          const trusted = await Promise.all(checkpoints.map((index) => checkpointAt(rows, index, signer)));
          const report = await verifyChain({ orgId: ORG_A, rows, state, checkpoints: trusted });
          expect(report.breaks).toEqual([]);
          expect(report.counts).toMatchObject({ sealed: length, pending });
          expect(rows.slice(length).every((row) => row.checksum === null)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});
