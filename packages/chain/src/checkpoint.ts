// Signed checkpoints, format version 1 (docs/chain-format.md, "Checkpoints").
// A checkpoint is a chain head signed with a key the database never sees. The
// signer is passed in: this package holds no keys and reads no clock.
import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { InstantFormatError, parseUtcInstant } from './instant.ts';
import { HEX64 } from './row-validation.ts';

export const CHECKPOINT_VERSION = 1;

/** The signed fields. The signed bytes are the RFC 8785 form of exactly these seven members. */
export interface CheckpointBody {
  v: 1;
  /** null: the system chain. */
  org_id: string | null;
  /** chain_seq of the chain's head (the watermark) when signed: decimal, no sign, no leading zeros. */
  chain_seq: string;
  /** Number of sealed rows of the chain up to and including chain_seq, counted from its genesis: decimal. */
  sealed_count: string;
  /** checksum of the row at chain_seq. */
  checksum: string;
  /** When it was signed: UTC, YYYY-MM-DDTHH:MM:SS.fffZ or .ffffffZ. */
  signed_at: string;
  key_id: string;
}

export interface SignedCheckpoint extends CheckpointBody {
  /** Ed25519 signature over checkpointPayload(body): 64 bytes, base64url without padding. */
  signature: string;
}

/** What a caller fills in; `v` and `key_id` come from the format and the signer. */
export type CheckpointDraft = Omit<CheckpointBody, 'v' | 'key_id'> & { v?: 1; key_id?: string };

export interface CheckpointSigner {
  keyId: string;
  sign(bytes: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
}

export const CHECKPOINT_BODY_KEYS = ['v', 'org_id', 'chain_seq', 'sealed_count', 'checksum', 'signed_at', 'key_id'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const POSITIVE_DECIMAL = /^[1-9]\d*$/;
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

function show(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value) ?? String(value);
}

export function assertKeyId(value: unknown, what = 'key_id'): asserts value is string {
  if (typeof value !== 'string' || !KEY_ID.test(value)) {
    throw new CheckpointFormatError(`${what}: got ${show(value)}, want 1-128 characters of A-Z a-z 0-9 . _ : - (not starting with a symbol)`);
  }
}

/** Checks every field of a body; `extraKeys` lists the members allowed besides the seven (e.g. `signature`). */
export function assertCheckpointBody(value: unknown, extraKeys: readonly string[] = []): asserts value is CheckpointBody {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckpointFormatError(`checkpoint: got ${show(value)}, want a JSON object`);
  }
  const record = value as Record<string, unknown>;
  const allowed = new Set<string>([...CHECKPOINT_BODY_KEYS, ...extraKeys]);
  for (const key of Object.keys(record)) {
    if (!allowed.has(key)) throw new CheckpointFormatError(`checkpoint: got unexpected member ${JSON.stringify(key)}, want only ${[...allowed].join(', ')}`);
  }
  if (record.v !== CHECKPOINT_VERSION) throw new CheckpointFormatError(`v: got ${show(record.v)}, want ${CHECKPOINT_VERSION}`);
  if (record.org_id !== null && (typeof record.org_id !== 'string' || !UUID.test(record.org_id))) {
    throw new CheckpointFormatError(`org_id: got ${show(record.org_id)}, want a lowercase UUID or null`);
  }
  for (const name of ['chain_seq', 'sealed_count'] as const) {
    const field = record[name];
    if (typeof field !== 'string' || !POSITIVE_DECIMAL.test(field) || BigInt(field) > 9223372036854775807n) {
      throw new CheckpointFormatError(`${name}: got ${show(field)}, want a positive decimal string without leading zeros`);
    }
  }
  if (BigInt(record.sealed_count as string) > BigInt(record.chain_seq as string)) {
    throw new CheckpointFormatError(`sealed_count: got ${record.sealed_count as string}, want at most chain_seq ${record.chain_seq as string} (chain_seq values are distinct positive integers)`);
  }
  if (typeof record.checksum !== 'string' || !HEX64.test(record.checksum)) {
    throw new CheckpointFormatError(`checksum: got ${show(record.checksum)}, want 64 lowercase hex digits`);
  }
  try {
    parseUtcInstant(record.signed_at as string, 'signed_at', { fractionDigits: [3, 6] });
  } catch (error) {
    if (error instanceof InstantFormatError) throw new CheckpointFormatError(error.message);
    throw error;
  }
  assertKeyId(record.key_id);
}

function bodyOf(checkpoint: CheckpointBody): CheckpointBody {
  const { v, org_id, chain_seq, sealed_count, checksum, signed_at, key_id } = checkpoint;
  return { v, org_id, chain_seq, sealed_count, checksum, signed_at, key_id };
}

/** The exact text that is signed: RFC 8785 of the seven body members (a `signature` member, if present, is left out). */
export function checkpointPayload(checkpoint: CheckpointBody): string {
  const body = bodyOf(checkpoint);
  assertCheckpointBody(body);
  return canonicalize(body)!;
}

export function checkpointPayloadBytes(checkpoint: CheckpointBody): Uint8Array {
  return new Uint8Array(Buffer.from(checkpointPayload(checkpoint), 'utf8'));
}

export async function signCheckpoint(draft: CheckpointDraft, signer: CheckpointSigner): Promise<SignedCheckpoint> {
  assertKeyId(signer.keyId, 'signer.keyId');
  if (draft.key_id !== undefined && draft.key_id !== signer.keyId) {
    throw new CheckpointFormatError(`key_id: got ${show(draft.key_id)}, want the signer's ${JSON.stringify(signer.keyId)}`);
  }
  const body: CheckpointBody = bodyOf({ ...draft, v: CHECKPOINT_VERSION, key_id: signer.keyId });
  const signature = await signer.sign(checkpointPayloadBytes(body));
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    throw new CheckpointFormatError(`signature: got ${signature instanceof Uint8Array ? `${signature.length} bytes` : typeof signature}, want 64 bytes (Ed25519)`);
  }
  return { ...body, signature: Buffer.from(signature).toString('base64url') };
}

/** A signer over an Ed25519 private KeyObject the caller loaded (from a file or the environment). */
export function ed25519Signer(keyId: string, privateKey: KeyObject): CheckpointSigner {
  assertKeyId(keyId, 'keyId');
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new CheckpointFormatError(`privateKey: got a ${privateKey.type} ${privateKey.asymmetricKeyType ?? ''} key, want a private ed25519 key`);
  }
  return { keyId, sign: (bytes) => new Uint8Array(cryptoSign(null, bytes, privateKey)) };
}

/** Decodes a base64url signature strictly: 86 characters, no padding, unused bits zero. */
export function decodeSignature(text: unknown): Uint8Array | null {
  if (typeof text !== 'string' || !SIGNATURE.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== 64 || bytes.toString('base64url') !== text) return null;
  return new Uint8Array(bytes);
}

/** One line of the directory sink (without its trailing newline): RFC 8785 of the body plus `signature`. */
export function checkpointLine(checkpoint: SignedCheckpoint): string {
  assertCheckpointBody(checkpoint, ['signature']);
  if (decodeSignature(checkpoint.signature) === null) {
    throw new CheckpointFormatError(`signature: got ${show(checkpoint.signature)}, want 86 base64url characters (64 bytes, no padding)`);
  }
  return canonicalize({ ...bodyOf(checkpoint), signature: checkpoint.signature })!;
}

/** Parses one exported line; the result is unverified until verifyCheckpointSignature accepts it. */
export function parseCheckpointLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new CheckpointFormatError(`checkpoint line: got invalid JSON (${(error as Error).message}), want one JSON object`);
  }
}

/**
 * A checkpoint as recorded in audit_chain_checkpoints: `body` holds the exported
 * line (the signed members and `signature`); the `signature` column fills in for
 * a body stored without one. What comes out is unverified, like any line.
 */
export function storedCheckpointLine(body: unknown, signature: string): unknown {
  if (body !== null && typeof body === 'object' && !Array.isArray(body) && !('signature' in body)) return { ...body, signature };
  return body;
}
