// Builders for the package's own tests (not exported): rows, sealed chains and
// the attacker's tools (recompute links after a change, as anyone with write
// access to the database could).
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { RowContent } from './canonical.ts';
import type { ChainStateSnapshot } from './chain-verifier.ts';
import { ed25519Signer, signCheckpoint, type CheckpointBody, type CheckpointSigner } from './checkpoint.ts';
import type { StoredRow } from './row-check.ts';
import { sealBatch } from './seal.ts';

export const ORG_A = '11111111-1111-4111-8111-111111111111';
export const ORG_B = '22222222-2222-4222-8222-222222222222';

export function makeRow(orgId: string | null, chainSeq: number | string, overrides: Partial<RowContent> = {}): RowContent {
  const seq = String(chainSeq);
  return {
    id: `00000000-0000-4000-8000-${seq.padStart(12, '0')}`,
    orgId,
    chainSeq: seq,
    occurredAt: '2026-11-23T01:02:03.456789Z',
    recordedAt: '2026-11-23T01:02:03.500000Z',
    actorType: 'user',
    actorId: `u-${seq}`,
    actorEmail: `user${seq}@example.com`,
    action: 'thing.update',
    resourceType: 'thing',
    resourceId: `t-${seq}`,
    resourceName: null,
    details: { json: { n: Number(seq), tags: ['a', 'b'] } },
    ipAddress: '192.0.2.1',
    userAgent: 'test/1.0',
    result: 'success',
    errorMessage: null,
    ...overrides,
  };
}

let saltCounter = 0;
export function nextSalt(): string {
  saltCounter += 1;
  return saltCounter.toString(16).padStart(32, '0');
}

/** Seals rows (one chain, increasing chain_seq) from genesis, or after `headChecksum`. */
export function sealRows(rows: readonly RowContent[], headChecksum: string | null = null): StoredRow[] {
  const links = sealBatch({ headChecksum, rows, newSalt: nextSalt });
  return rows.map((row, i) => {
    const link = links[i]!;
    return { ...row, prevChecksum: link.prevChecksum, checksum: link.checksum, checksumVersion: link.checksumVersion, piiDigest: link.piiDigest, piiSalt: link.piiSalt, redacted: false };
  });
}

export function pendingRow(row: RowContent): StoredRow {
  return { ...row, prevChecksum: null, checksum: null, checksumVersion: null, piiDigest: null, piiSalt: null, redacted: false };
}

/** A sealed chain of `count` rows with gaps in chain_seq (10, 20, 30, ...), plus `pending` unsealed rows after it. */
export function sealedChain(orgId: string | null, count: number, pending = 0, firstSeq = 10, step = 10): { rows: StoredRow[]; state: ChainStateSnapshot } {
  const sealedContent = Array.from({ length: count }, (_, i) => makeRow(orgId, firstSeq + i * step));
  const sealed = sealRows(sealedContent);
  const pendingRows = Array.from({ length: pending }, (_, i) => pendingRow(makeRow(orgId, firstSeq + (count + i) * step)));
  return { rows: [...sealed, ...pendingRows], state: stateOf(sealed) };
}

export function stateOf(sealed: readonly StoredRow[]): ChainStateSnapshot {
  const last = sealed.at(-1);
  return { watermarkSeq: last ? last.chainSeq : '0', headChecksum: last ? last.checksum : null, sealedCount: String(sealed.length) };
}

/**
 * The attacker's recomputation, as anyone with write access to the database
 * could do it: keep rows before `from`, re-seal every row from there on.
 */
export function resealFrom(rows: readonly StoredRow[], from: number): StoredRow[] {
  const head = from === 0 ? null : rows[from - 1]!.checksum;
  const resealed = sealRows(rows.slice(from).map(({ prevChecksum: _p, checksum: _c, checksumVersion: _v, piiDigest: _d, piiSalt: _s, redacted: _r, ...content }) => content), head);
  return [...rows.slice(0, from), ...resealed];
}

export function redact(row: StoredRow): StoredRow {
  return { ...row, actorEmail: null, ipAddress: null, userAgent: null, piiSalt: null, redacted: true };
}

export function testKeys(keyId: string): { signer: CheckpointSigner; publicKey: KeyObject; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { signer: ed25519Signer(keyId, privateKey), publicKey, privateKey };
}

/** A signed checkpoint of the row at `index` of a chain (sealed_count = index + 1 from genesis). */
export async function checkpointAt(rows: readonly StoredRow[], index: number, signer: CheckpointSigner, signedAt = '2026-11-23T02:00:00.000Z'): Promise<CheckpointBody & { signature: string }> {
  const row = rows[index]!;
  return signCheckpoint({ org_id: row.orgId, chain_seq: row.chainSeq, sealed_count: String(index + 1), checksum: row.checksum!, signed_at: signedAt }, signer);
}

export async function* streamOf<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item;
}
