import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkCheckpoints,
  checkpointLine,
  checkpointPayload,
  CheckpointFormatError,
  KeyringError,
  parseCheckpointLine,
  signCheckpoint,
  verifyCheckpointSignature,
  type CheckpointPublicKey,
  type SignedCheckpoint,
} from './index.ts';
import { ORG_A, ORG_B, testKeys } from './test-fixtures.ts';

const draft = {
  org_id: ORG_A,
  chain_seq: '1200',
  sealed_count: '37',
  checksum: 'ab'.repeat(32),
  signed_at: '2026-11-23T02:00:00.000Z',
};

const k1 = testKeys('k1');
const k2 = testKeys('k2');
const keyring: CheckpointPublicKey[] = [
  { keyId: 'k1', publicKey: k1.publicKey.export({ format: 'pem', type: 'spki' }).toString(), validFrom: '2026-01-01T00:00:00.000Z', validUntil: '2026-12-01T00:00:00.000Z' },
  { keyId: 'k2', publicKey: k2.publicKey, validFrom: new Date('2026-12-01T00:00:00.000Z') },
];

describe('checkpoints', () => {
  it('signs the RFC 8785 form of the seven body members and verifies the round trip', async () => {
    const signed = await signCheckpoint(draft, k1.signer);
    expect(signed).toMatchObject({ ...draft, v: 1, key_id: 'k1' });
    expect(signed.signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(checkpointPayload(signed)).toBe(
      `{"chain_seq":"1200","checksum":"${'ab'.repeat(32)}","key_id":"k1","org_id":"${ORG_A}","sealed_count":"37","signed_at":"2026-11-23T02:00:00.000Z","v":1}`,
    );
    expect(verifyCheckpointSignature(signed, keyring)).toEqual({ ok: true, checkpoint: { ...draft, v: 1, key_id: 'k1' } });
  });

  it('round-trips through an export line', async () => {
    const signed = await signCheckpoint({ ...draft, org_id: null, signed_at: '2026-11-23T02:00:00.123456Z' }, k1.signer);
    const line = checkpointLine(signed);
    expect(line).not.toContain('\n');
    expect(line.startsWith('{"chain_seq":')).toBe(true);
    expect(verifyCheckpointSignature(parseCheckpointLine(line), keyring).ok).toBe(true);
  });

  it('accepts a signer that signs asynchronously and refuses a key_id that is not the signer\'s', async () => {
    const asyncSigner = { keyId: 'k1', sign: async (bytes: Uint8Array) => k1.signer.sign(bytes) };
    expect(verifyCheckpointSignature(await signCheckpoint(draft, asyncSigner), keyring).ok).toBe(true);
    await expect(signCheckpoint({ ...draft, key_id: 'k2' }, k1.signer)).rejects.toThrow(/key_id: got "k2", want the signer's "k1"/);
    await expect(signCheckpoint(draft, { keyId: 'k1', sign: () => new Uint8Array(10) })).rejects.toThrow(/got 10 bytes, want 64/);
  });

  it('refuses to sign malformed bodies', async () => {
    await expect(signCheckpoint({ ...draft, chain_seq: '012' }, k1.signer)).rejects.toThrow(CheckpointFormatError);
    await expect(signCheckpoint({ ...draft, sealed_count: '1201' }, k1.signer)).rejects.toThrow(/want at most chain_seq 1200/);
    await expect(signCheckpoint({ ...draft, checksum: 'AB'.repeat(32) }, k1.signer)).rejects.toThrow(/checksum: got/);
    await expect(signCheckpoint({ ...draft, signed_at: '2026-11-23 02:00:00' }, k1.signer)).rejects.toThrow(/signed_at: got/);
    await expect(signCheckpoint({ ...draft, org_id: 'not-a-uuid' }, k1.signer)).rejects.toThrow(/org_id: got/);
  });

  const tamperings: [string, (c: SignedCheckpoint) => Record<string, unknown>][] = [
    ['chain_seq', (c) => ({ ...c, chain_seq: '1201' })],
    ['sealed_count', (c) => ({ ...c, sealed_count: '36' })],
    ['checksum', (c) => ({ ...c, checksum: 'cd'.repeat(32) })],
    ['org_id', (c) => ({ ...c, org_id: ORG_B })],
    ['org_id to the system chain', (c) => ({ ...c, org_id: null })],
    ['signed_at', (c) => ({ ...c, signed_at: '2026-11-23T02:00:01.000Z' })],
    ['signed_at to microseconds (same instant, other bytes)', (c) => ({ ...c, signed_at: '2026-11-23T02:00:00.000000Z' })],
    ['signature', (c) => ({ ...c, signature: (c.signature[0] === 'A' ? 'B' : 'A') + c.signature.slice(1) })],
    ['an added member', (c) => ({ ...c, note: 'unsigned' })],
    ['a removed member', (c) => { const { sealed_count: _dropped, ...rest } = c; return rest; }],
    ['a padded signature', (c) => ({ ...c, signature: `${c.signature}==` })],
  ];
  for (const [what, tamper] of tamperings) {
    it(`rejects a checkpoint with a changed ${what} as checkpoint_signature_invalid`, async () => {
      const verdict = verifyCheckpointSignature(tamper(await signCheckpoint(draft, k1.signer)), keyring);
      expect(verdict).toMatchObject({ ok: false, kind: 'checkpoint_signature_invalid' });
    });
  }

  it('rejects a checkpoint signed by a key id missing from the keyring', async () => {
    const stranger = testKeys('k9');
    const verdict = verifyCheckpointSignature(await signCheckpoint(draft, stranger.signer), keyring);
    expect(verdict).toEqual({ ok: false, kind: 'checkpoint_key_unknown', reason: 'key_id "k9" is not in the keyring' });
  });

  it('rejects a checkpoint signed by another key under a known key id', async () => {
    const impostor = testKeys('k1');
    const verdict = verifyCheckpointSignature(await signCheckpoint(draft, impostor.signer), keyring);
    expect(verdict).toMatchObject({ ok: false, kind: 'checkpoint_signature_invalid', reason: 'the Ed25519 signature does not verify under key k1' });
  });

  it('rejects a checkpoint whose signed_at is outside its key\'s window', async () => {
    const before = await signCheckpoint({ ...draft, signed_at: '2025-12-31T23:59:59.999Z' }, k1.signer);
    const atEnd = await signCheckpoint({ ...draft, signed_at: '2026-12-01T00:00:00.000Z' }, k1.signer);
    for (const checkpoint of [before, atEnd]) {
      const verdict = verifyCheckpointSignature(checkpoint, keyring);
      expect(verdict).toMatchObject({ ok: false, kind: 'checkpoint_key_unknown' });
      expect(verdict.ok === false && verdict.reason).toMatch(/outside key k1's validity window \[2026-01-01T00:00:00.000Z, 2026-12-01T00:00:00.000Z\)/);
    }
  });

  it('verifies across a key rotation: each key inside its own window only', async () => {
    const old = await signCheckpoint({ ...draft, signed_at: '2026-11-30T23:59:59.999999Z' }, k1.signer);
    const current = await signCheckpoint({ ...draft, signed_at: '2026-12-01T00:00:00.000Z' }, k2.signer);
    const backdated = await signCheckpoint({ ...draft, signed_at: '2026-11-30T00:00:00.000Z' }, k2.signer);
    expect(verifyCheckpointSignature(old, keyring).ok).toBe(true);
    expect(verifyCheckpointSignature(current, keyring).ok).toBe(true);
    expect(verifyCheckpointSignature(backdated, keyring)).toMatchObject({ ok: false, kind: 'checkpoint_key_unknown' });
  });

  it('accepts raw 32-byte public keys', async () => {
    const raw = new Uint8Array(Buffer.from(k1.publicKey.export({ format: 'jwk' }).x!, 'base64url'));
    const signed = await signCheckpoint(draft, k1.signer);
    expect(verifyCheckpointSignature(signed, [{ keyId: 'k1', publicKey: raw, validFrom: '2026-01-01T00:00:00Z' }]).ok).toBe(true);
  });

  it('refuses a bad keyring loudly', () => {
    const signed = { ...draft, v: 1, key_id: 'k1', signature: 'A'.repeat(86) };
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const bad: [CheckpointPublicKey[], RegExp][] = [
      [[keyring[0]!, keyring[0]!], /got it twice/],
      [[{ ...keyring[0]!, publicKey: k1.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() }], /got a private key/],
      [[{ ...keyring[0]!, publicKey: k1.privateKey }], /want a public ed25519 key/],
      [[{ ...keyring[0]!, publicKey: rsa }], /want a public ed25519 key/],
      [[{ ...keyring[0]!, publicKey: new Uint8Array(31) }], /want 32/],
      [[{ ...keyring[0]!, validFrom: 'yesterday' }], /validFrom: got "yesterday"/],
      [[{ ...keyring[0]!, validUntil: '2025-01-01T00:00:00Z' }], /not after validFrom/],
    ];
    for (const [ring, message] of bad) {
      expect(() => verifyCheckpointSignature(signed, ring)).toThrow(KeyringError);
      expect(() => verifyCheckpointSignature(signed, ring)).toThrow(message);
    }
  });

  it('sorts exported lines into trusted checkpoints and breaks', async () => {
    const good = await signCheckpoint(draft, k1.signer);
    const other = await signCheckpoint({ ...draft, org_id: ORG_B }, k2.signer);
    const lines = [
      checkpointLine(good),
      'not json',
      JSON.stringify({ ...good, sealed_count: '38' }),
      checkpointLine(await signCheckpoint({ ...draft, signed_at: '2026-12-02T00:00:00.000Z' }, testKeys('k3').signer)),
      JSON.stringify({ ...other, signed_at: '2026-12-01T00:00:00.000Z' }),
    ];
    const { trusted, breaks } = checkCheckpoints(lines, keyring);
    expect(trusted).toEqual([{ ...draft, v: 1, key_id: 'k1' }]);
    expect(breaks.map((b) => [b.index, b.kind, b.chainSeq, b.orgId])).toEqual([
      [1, 'checkpoint_signature_invalid', null, undefined],
      [2, 'checkpoint_signature_invalid', '1200', ORG_A],
      [3, 'checkpoint_key_unknown', '1200', ORG_A],
      [4, 'checkpoint_signature_invalid', '1200', ORG_B],
    ]);
    expect(breaks[2]!.found).toBe('k3');
  });
});
