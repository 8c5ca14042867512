import { describe, expect, test } from 'vitest';
import { checkpointDecision, type ChainHead, type LastCheckpoint } from './checkpoint-policy.ts';

const head = (watermarkSeq: bigint, sealedCount: bigint): ChainHead => ({ orgId: null, watermarkSeq, headChecksum: 'a'.repeat(64), sealedCount });
const last = (chainSeq: bigint, sealedCount: bigint, signedAt = new Date('2026-01-01T00:00:00Z')): LastCheckpoint => ({ chainSeq, sealedCount, signedAt });
const now = new Date('2026-01-01T00:10:00Z');
const policy = { everyRows: 100, intervalMs: 5 * 60_000 };

describe('checkpointDecision', () => {
  test.each([
    ['first head of a chain', head(10n, 3n), null, { due: true, reason: 'first' }],
    ['head unchanged since the last checkpoint', head(10n, 3n), last(10n, 3n), { due: false, reason: 'unchanged' }],
    ['enough rows sealed', head(500n, 103n), last(10n, 3n, now), { due: true, reason: 'rows' }],
    ['a few rows, interval passed', head(20n, 4n), last(10n, 3n), { due: true, reason: 'interval' }],
    ['a few rows, interval not passed', head(20n, 4n), last(10n, 3n, new Date('2026-01-01T00:09:00Z')), { due: false, reason: 'not_yet' }],
    ['watermark below the last checkpoint', head(5n, 2n), last(10n, 3n), { due: false, reason: 'regressed' }],
  ] as const)('%s', (_name, chainHead, previous, decision) => {
    expect(checkpointDecision(chainHead, previous, now, policy)).toEqual(decision);
  });

  test('on request every head is signed, even an unchanged one, but never one that went back', () => {
    expect(checkpointDecision(head(10n, 3n), last(10n, 3n), now, 'requested')).toEqual({ due: true, reason: 'requested' });
    expect(checkpointDecision(head(9n, 3n), last(10n, 3n), now, 'requested')).toEqual({ due: false, reason: 'regressed' });
  });
});
