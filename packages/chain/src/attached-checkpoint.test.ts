import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  attachedCheckpointLine,
  attachedCheckpointPayload,
  CheckpointFormatError,
  signAttachedCheckpoint,
  verifyAttachedCheckpoint,
  verifyCheckpointSignature,
  type CheckpointPublicKey,
} from './index.ts';
import { testKeys } from './test-fixtures.ts';

const draft = {
  schema: 'public',
  table: 'audit_logs',
  chain_key: 'c0ffee00-0000-4000-8000-00000000beef',
  chain_seq: '1000000000042',
  sealed_count: '37',
  checksum: 'ab'.repeat(32),
  signed_at: '2026-11-23T02:00:00.000Z',
};
const k1 = testKeys('k1');
const keyring: CheckpointPublicKey[] = [
  { keyId: 'k1', publicKey: k1.publicKey.export({ format: 'pem', type: 'spki' }).toString(), validFrom: '2026-01-01T00:00:00.000Z', validUntil: '2026-12-01T00:00:00.000Z' },
];

describe('checkpoints of attached chains (body v 2)', () => {
  it('signs the RFC 8785 form of the nine members; the exported line verifies', async () => {
    const signed = await signAttachedCheckpoint(draft, k1.signer);
    expect(attachedCheckpointPayload(signed)).toBe(
      `{"chain_key":"c0ffee00-0000-4000-8000-00000000beef","chain_seq":"1000000000042","checksum":"${'ab'.repeat(32)}","key_id":"k1","schema":"public","sealed_count":"37","signed_at":"2026-11-23T02:00:00.000Z","table":"audit_logs","v":2}`,
    );
    expect(verifyAttachedCheckpoint(JSON.parse(attachedCheckpointLine(signed)), keyring)).toEqual({ ok: true, checkpoint: { ...draft, v: 2, key_id: 'k1' } });
  });

  it('is never taken for a format 1 checkpoint, nor the other way round', async () => {
    const signed = await signAttachedCheckpoint(draft, k1.signer);
    expect(verifyCheckpointSignature(signed, keyring)).toMatchObject({ ok: false });
    expect(verifyAttachedCheckpoint({ ...signed, v: 1 }, keyring)).toMatchObject({ ok: false, reason: expect.stringMatching(/^malformed checkpoint: v: got 1, want 2/) });
  });

  it('a null chain key (a table without one) is a chain of its own', async () => {
    const signed = await signAttachedCheckpoint({ ...draft, chain_key: null }, k1.signer);
    expect(verifyAttachedCheckpoint(signed, keyring)).toMatchObject({ ok: true, checkpoint: { chain_key: null } });
    expect(verifyAttachedCheckpoint({ ...signed, chain_key: '' }, keyring)).toMatchObject({ ok: false });
  });

  it('refuses malformed bodies, unknown keys and signatures outside the key\'s window', async () => {
    await expect(signAttachedCheckpoint({ ...draft, table: '' }, k1.signer)).rejects.toThrow(CheckpointFormatError);
    await expect(signAttachedCheckpoint({ ...draft, schema: 'x'.repeat(64) }, k1.signer)).rejects.toThrow(/schema: .* want a PostgreSQL name/);
    await expect(signAttachedCheckpoint({ ...draft, chain_key: 'a\u0000b' }, k1.signer)).rejects.toThrow(/chain_key/);
    await expect(signAttachedCheckpoint({ ...draft, chain_seq: '007' }, k1.signer)).rejects.toThrow(/chain_seq/);
    const late = await signAttachedCheckpoint({ ...draft, signed_at: '2026-12-02T00:00:00.000Z' }, k1.signer);
    expect(verifyAttachedCheckpoint(late, keyring)).toMatchObject({ ok: false, reason: expect.stringMatching(/outside key k1's validity window/) });
    expect(verifyAttachedCheckpoint(await signAttachedCheckpoint(draft, testKeys('k9').signer), keyring)).toMatchObject({ ok: false, reason: 'key_id "k9" is not in the keyring' });
    expect(verifyAttachedCheckpoint({ ...(await signAttachedCheckpoint(draft, k1.signer)), extra: 1 }, keyring)).toMatchObject({ ok: false, reason: expect.stringMatching(/unexpected member "extra"/) });
  });

  it('property: changing any member of a signed line makes it fail', async () => {
    const signed = await signAttachedCheckpoint(draft, k1.signer);
    const members = ['schema', 'table', 'chain_key', 'chain_seq', 'sealed_count', 'checksum', 'signed_at'] as const;
    const alternative: Record<(typeof members)[number], fc.Arbitrary<string | null>> = {
      schema: fc.string({ minLength: 1, maxLength: 20 }),
      table: fc.string({ minLength: 1, maxLength: 20 }),
      chain_key: fc.option(fc.string({ maxLength: 40 })),
      chain_seq: fc.bigInt({ min: 1n, max: 9223372036854775807n }).map(String),
      sealed_count: fc.bigInt({ min: 1n, max: 9223372036854775807n }).map(String),
      checksum: fc.stringMatching(/^[0-9a-f]{64}$/),
      signed_at: fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-11-30T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString()),
    };
    fc.assert(
      fc.property(fc.constantFrom(...members).chain((member) => alternative[member].map((value) => [member, value] as const)), ([member, value]) => {
        fc.pre(value !== signed[member]);
        expect(verifyAttachedCheckpoint({ ...signed, [member]: value }, keyring).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
