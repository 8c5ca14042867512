import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { checkpointPayloadBytes, signCheckpoint, verifyCheckpointSignature } from '@audit-chain/chain';
import { generateSigningKeyPair, KeyFileError, loadKeyringFile, loadSigningKey, writeSigningKeyPair } from './keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'audit-chain-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('key pairs', () => {
  test('a generated pair signs checkpoints its keyring entry verifies; files are 0600 and never overwritten', async () => {
    const pair = generateSigningKeyPair('k-2026', new Date('2026-01-01T00:00:00Z'));
    const written = writeSigningKeyPair(join(dir, 'pair'), pair);
    expect(statSync(written.privateKeyFile).mode & 0o777).toBe(0o600);
    const keyring = loadKeyringFile(written.keyringFile);
    expect(keyring).toEqual([{ keyId: 'k-2026', publicKey: pair.keyringEntry.publicKey, validFrom: '2026-01-01T00:00:00.000Z', validUntil: null }]);
    const signer = loadSigningKey({ file: written.privateKeyFile, keyId: 'k-2026' })!;
    const checkpoint = await signCheckpoint({ org_id: null, chain_seq: '5', sealed_count: '2', checksum: 'b'.repeat(64), signed_at: '2026-02-01T00:00:00.000Z' }, signer);
    expect(verifyCheckpointSignature(checkpoint, keyring)).toMatchObject({ ok: true });
    expect(checkpointPayloadBytes(checkpoint).length).toBeGreaterThan(0);
    expect(() => writeSigningKeyPair(join(dir, 'pair'), pair)).toThrow(/k-2026\.pem already exists/);
    expect(readFileSync(written.privateKeyFile, 'utf8')).toBe(pair.privatePem);
  });

  test('signing keys: none configured, from PEM text, and the ways one can be wrong', () => {
    expect(loadSigningKey({})).toBeNull();
    const pair = generateSigningKeyPair('env-key', new Date());
    expect(loadSigningKey({ pem: pair.privatePem, keyId: 'env-key' })?.keyId).toBe('env-key');
    expect(() => loadSigningKey({ file: join(dir, 'absent.pem'), keyId: 'x' })).toThrow(/cannot read the signing key file .*absent\.pem: no such file/);
    expect(() => loadSigningKey({ pem: 'not a key', keyId: 'x' })).toThrow(KeyFileError);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => loadSigningKey({ pem: rsa, keyId: 'x' })).toThrow(/got a rsa key, want ed25519/);
    expect(() => loadSigningKey({ pem: pair.privatePem, keyId: '-bad id' })).toThrow(/AUDIT_CHAIN_SIGNING_KEY_ID: keyId: got "-bad id"/);
  });

  test('keyring files: one entry or an array; every mistake named with the file and entry', () => {
    const { keyringEntry } = generateSigningKeyPair('one', new Date('2026-01-01T00:00:00Z'));
    expect(loadKeyringFile(file('one.json', JSON.stringify(keyringEntry)))).toHaveLength(1);
    const cases: [string, RegExp][] = [
      ['{', /got invalid JSON/],
      ['[]', /got no keys/],
      [JSON.stringify([{ ...keyringEntry, extra: 1 }]), /entry 0: got unexpected member "extra"/],
      [JSON.stringify([keyringEntry, keyringEntry]), /key one: got it twice in the keyring/],
      [JSON.stringify([{ ...keyringEntry, publicKey: generateSigningKeyPair('p', new Date()).privatePem }]), /got a private key, want only the public key/],
      [JSON.stringify([{ ...keyringEntry, validUntil: '2025-01-01T00:00:00Z' }]), /validUntil is not after validFrom/],
      [JSON.stringify([{ ...keyringEntry, validFrom: 5 }]), /validFrom: got 5, want a UTC time/],
    ];
    for (const [content, message] of cases) expect(() => loadKeyringFile(file('bad.json', content)), content).toThrow(message);
    expect(() => loadKeyringFile(join(dir, 'absent.json'))).toThrow(/cannot read the keyring .*absent\.json: no such file/);
  });
});
