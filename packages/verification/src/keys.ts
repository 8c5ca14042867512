// Checkpoint keys outside the database: the worker's private signing key (a
// PEM file or the PEM text from the environment), the verifiers' keyring of
// public keys with validity windows, and generating a new pair (keygen).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertKeyId, checkCheckpoints, ed25519Signer, type CheckpointPublicKey, type CheckpointSigner } from '@audit-chain/chain';

/** A key or keyring that cannot be used; the message says which file and why. */
export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

export interface SigningKeySource {
  /** Path of a PKCS#8 PEM private key. */
  file?: string | undefined;
  /** The PEM text itself. */
  pem?: string | undefined;
  keyId?: string | undefined;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyFileError(`cannot read the ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`);
  }
}

/** The signer for the configured key, or null when no key is configured. Throws KeyFileError for a key that is set but unusable. */
export function loadSigningKey(source: SigningKeySource): CheckpointSigner | null {
  if (!source.file && !source.pem) return null;
  const where = source.file ? `signing key file ${source.file}` : 'signing key in AUDIT_CHAIN_SIGNING_KEY';
  const pem = source.file ? readText(source.file, 'signing key file') : source.pem!;
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new KeyFileError(`${where}: cannot read a private key (${(error as Error).message}), want a PKCS#8 PEM Ed25519 key (audit-chain keygen writes one)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyFileError(`${where}: got a ${key.asymmetricKeyType ?? 'unknown'} key, want ed25519`);
  try {
    return ed25519Signer(source.keyId ?? '', key);
  } catch (error) {
    throw new KeyFileError(`AUDIT_CHAIN_SIGNING_KEY_ID: ${(error as Error).message}`);
  }
}

/** The keyring entry text of a private key's public half (to check a configured key against a keyring). */
export function publicKeyPem(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
}

interface KeyringEntryJson {
  keyId: unknown;
  publicKey: unknown;
  validFrom: unknown;
  validUntil?: unknown;
}

/**
 * Reads a keyring file: a JSON array of `{ keyId, publicKey (SPKI PEM), validFrom,
 * validUntil? }`, or one such object (what keygen writes). Every entry is checked
 * here, so a bad keyring fails before verification starts.
 */
export function loadKeyringFile(path: string): CheckpointPublicKey[] {
  const text = readText(path, 'keyring');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new KeyFileError(`keyring ${path}: got invalid JSON (${(error as Error).message}), want an array of { keyId, publicKey, validFrom, validUntil? }`);
  }
  const entries = Array.isArray(parsed) ? parsed : [parsed];
  const keyring = entries.map((entry, i) => keyringEntry(entry, `keyring ${path} entry ${i}`));
  if (keyring.length === 0) throw new KeyFileError(`keyring ${path}: got no keys, want at least one`);
  try {
    checkCheckpoints([], keyring);
  } catch (error) {
    throw new KeyFileError(`keyring ${path}: ${(error as Error).message}`);
  }
  return keyring;
}

function keyringEntry(value: unknown, what: string): CheckpointPublicKey {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new KeyFileError(`${what}: got ${JSON.stringify(value)}, want an object`);
  const entry = value as KeyringEntryJson;
  const allowed = new Set(['keyId', 'publicKey', 'validFrom', 'validUntil']);
  for (const name of Object.keys(entry)) {
    if (!allowed.has(name)) throw new KeyFileError(`${what}: got unexpected member ${JSON.stringify(name)}, want only keyId, publicKey, validFrom, validUntil`);
  }
  if (typeof entry.keyId !== 'string') throw new KeyFileError(`${what}: keyId: got ${JSON.stringify(entry.keyId)}, want a string`);
  if (typeof entry.publicKey !== 'string') throw new KeyFileError(`${what}: publicKey: got ${JSON.stringify(entry.publicKey)}, want SPKI PEM text`);
  if (typeof entry.validFrom !== 'string') throw new KeyFileError(`${what}: validFrom: got ${JSON.stringify(entry.validFrom)}, want a UTC time such as 2026-01-01T00:00:00Z`);
  if (entry.validUntil !== undefined && entry.validUntil !== null && typeof entry.validUntil !== 'string') {
    throw new KeyFileError(`${what}: validUntil: got ${JSON.stringify(entry.validUntil)}, want a UTC time or null`);
  }
  return { keyId: entry.keyId, publicKey: entry.publicKey, validFrom: entry.validFrom, validUntil: (entry.validUntil as string | null | undefined) ?? null };
}

export interface GeneratedKeyPair {
  keyId: string;
  /** PKCS#8 PEM: keep it out of the database and out of version control. */
  privatePem: string;
  /** The keyring entry of the public key, valid from `validFrom` with an open end. */
  keyringEntry: { keyId: string; publicKey: string; validFrom: string; validUntil: null };
}

export function generateSigningKeyPair(keyId: string, validFrom: Date): GeneratedKeyPair {
  try {
    assertKeyId(keyId, 'key id');
  } catch (error) {
    throw new KeyFileError((error as Error).message);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyringEntry: {
      keyId,
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      validFrom: validFrom.toISOString(),
      validUntil: null,
    },
  };
}

export interface WrittenKeyPair {
  privateKeyFile: string;
  keyringFile: string;
}

/**
 * Writes `<dir>/<keyId>.pem` (mode 0600) and `<dir>/<keyId>.keyring.json` (a
 * keyring of this one key). Refuses to overwrite either: a lost private key
 * cannot be recovered, and a replaced one would orphan its checkpoints.
 */
export function writeSigningKeyPair(dir: string, pair: GeneratedKeyPair): WrittenKeyPair {
  const privateKeyFile = join(dir, `${pair.keyId}.pem`);
  const keyringFile = join(dir, `${pair.keyId}.keyring.json`);
  for (const file of [privateKeyFile, keyringFile]) {
    if (existsSync(file)) throw new KeyFileError(`${file} already exists: choose another --key-id or --out, keygen never overwrites a key`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(privateKeyFile, pair.privatePem, { flag: 'wx', mode: 0o600 });
    // The umask may have narrowed the mode; it must not have widened it, but be exact.
    chmodSync(privateKeyFile, 0o600);
    writeFileSync(keyringFile, `${JSON.stringify([pair.keyringEntry], null, 2)}\n`, { flag: 'wx', mode: 0o644 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new KeyFileError(`${(error as NodeJS.ErrnoException).path ?? dir} already exists: choose another --key-id or --out, keygen never overwrites a key`);
    throw new KeyFileError(`cannot write the key pair into ${dir}: ${(error as Error).message}`);
  }
  return { privateKeyFile, keyringFile };
}
