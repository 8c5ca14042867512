import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TableCheckpointBody } from '@audit-chain/chain';
import { TableCheckpointCheck, type TableCheckpointBreakKind } from './table-checkpoint-check.ts';

interface Row {
  seq: bigint;
  checksum: string;
}

const chain = fc
  .uniqueArray(fc.bigInt({ min: 1n, max: 10n ** 13n }), { minLength: 1, maxLength: 30 })
  .map((seqs) => seqs.sort((a, b) => (a < b ? -1 : 1)).map((seq, i): Row => ({ seq, checksum: i.toString(16).padStart(64, '0') })));

function checkpointOf(rows: readonly Row[], index: number): TableCheckpointBody {
  return {
    v: 2,
    schema: 'public',
    table: 't',
    chain_key: 'k',
    chain_seq: String(rows[index]!.seq),
    sealed_count: String(index + 1),
    checksum: rows[index]!.checksum,
    signed_at: '2026-11-23T02:00:00.000Z',
    key_id: 'k1',
  };
}

function run(rows: readonly Row[], checkpoints: readonly TableCheckpointBody[], state: { watermarkSeq: bigint; sealedCount: bigint | null } | null): TableCheckpointBreakKind[] {
  const found: TableCheckpointBreakKind[] = [];
  const check = new TableCheckpointCheck(checkpoints, (kind) => found.push(kind));
  for (const row of rows) check.row(row.seq, row.checksum);
  check.end(state);
  return found;
}

const stateOf = (rows: readonly Row[]) => ({ watermarkSeq: rows.at(-1)?.seq ?? 0n, sealedCount: BigInt(rows.length) });

describe('an attached chain against its checkpoints', () => {
  it('a chain as checkpointed has no break; every way of rewriting it before its last checkpoint has one', () => {
    fc.assert(
      fc.property(chain, fc.nat(), fc.nat(), (rows, a, b) => {
        const at = a % rows.length;
        const checkpoints = [checkpointOf(rows, at)];
        expect(run(rows, checkpoints, stateOf(rows))).toEqual([]);
        // Recomputed: the row at the checkpoint carries another checksum.
        const rewritten = rows.map((row, i) => (i === at ? { ...row, checksum: 'f'.repeat(64) } : row));
        expect(run(rewritten, checkpoints, stateOf(rewritten))).toEqual(['checkpoint_mismatch']);
        // A row at or before the checkpoint deleted.
        const gone = b % (at + 1);
        const deleted = rows.filter((_, i) => i !== gone);
        expect(run(deleted, checkpoints, stateOf(deleted)).length).toBeGreaterThan(0);
        // The tail from the checkpoint on deleted, the state set to match.
        const cut = rows.slice(0, at);
        expect(run(cut, checkpoints, cut.length ? stateOf(cut) : null)).toContain('tail_truncated');
      }),
      { numRuns: 300 },
    );
  });

  it('a state below the latest checkpoint, or no state at all, is a head_mismatch', () => {
    const rows: Row[] = [1n, 2n, 5n].map((seq, i) => ({ seq, checksum: String(i).repeat(64) }));
    const checkpoints = [checkpointOf(rows, 2)];
    expect(run(rows, checkpoints, { watermarkSeq: 2n, sealedCount: 2n })).toEqual(['head_mismatch']);
    expect(run(rows, checkpoints, { watermarkSeq: 5n, sealedCount: 2n })).toEqual(['head_mismatch']);
    expect(run(rows, checkpoints, null)).toEqual(['head_mismatch']);
    expect(run(rows, [], null)).toEqual([]);
  });
});

describe('an attached chain after a retention cut', () => {
  function runFrom(rows: readonly Row[], checkpoints: readonly TableCheckpointBody[], cut: { seq: bigint; sealedCount: bigint }, state: { watermarkSeq: bigint; sealedCount: bigint | null }): TableCheckpointBreakKind[] {
    const found: TableCheckpointBreakKind[] = [];
    const check = new TableCheckpointCheck(checkpoints, (kind) => found.push(kind), cut);
    for (const row of rows) check.row(row.seq, row.checksum);
    check.end(state);
    return found;
  }

  it('checkpoints at or below the cut are vouched for by it; those above are checked with rows counted from the cut', () => {
    fc.assert(
      fc.property(
        chain.filter((rows) => rows.length >= 2),
        fc.nat(),
        fc.array(fc.nat(), { maxLength: 6 }),
        (rows, c, picks) => {
          const cutAt = c % (rows.length - 1); // strictly below the head: at least one row stays
          const cut = { seq: rows[cutAt]!.seq, sealedCount: BigInt(cutAt + 1) };
          const checkpoints = [...new Set([cutAt, ...picks.map((pick) => pick % rows.length)])].sort((x, y) => x - y).map((index) => checkpointOf(rows, index));
          const left = rows.slice(cutAt + 1);
          expect(runFrom(left, checkpoints, cut, stateOf(rows))).toEqual([]);
          // Without the cut, the same remaining rows disagree with every checkpoint above it (counted from 1 again)
          // and miss the rows of those below it.
          const above = checkpoints.filter((checkpoint) => BigInt(checkpoint.chain_seq) > cut.seq);
          if (checkpoints.length > above.length) expect(run(left, checkpoints, stateOf(rows))).toContain('checkpoint_mismatch');
          // A row above the cut deleted is still caught when a checkpoint at or after it exists.
          const last = above.at(-1);
          if (last) {
            const deleted = left.filter((row) => row.seq !== BigInt(above[0]!.chain_seq));
            expect(runFrom(deleted, checkpoints, cut, stateOf(rows)).length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
