// Signed checkpoints of attached tables' chains (docs/chain-format.md,
// "Checkpoints of attached tables"): the same idea as version 1 (a chain's row
// signed with a key the database never sees), for a chain named by its schema,
// table and chain key instead of an organization id. Version 2 of the body, so
// a reader of version 1 lines can never take one for the other. The nine
// members are those the checkpoint stage's version 2 uses for attached chains
// (branch i11-checkpoint), so the signed bytes are the same. Retention of an
// attached table deletes rows only up to such a checkpoint.
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import canonicalize from 'canonicalize';
import { assertKeyId, CheckpointFormatError, decodeSignature, type CheckpointSigner } from './checkpoint.ts';
import type { CheckpointPublicKey } from './checkpoint-verify.ts';
import { InstantFormatError, instantOf, parseUtcInstant } from './instant.ts';
import { HEX64 } from './row-validation.ts';

export const ATTACHED_CHECKPOINT_VERSION = 2;

/** The signed members. The signed bytes are the RFC 8785 form of exactly these nine. */
export interface AttachedCheckpointBody {
  v: 2;
  /** The chained table's schema and name as PostgreSQL stores them (two members, so no name can be read as another). */
  schema: string;
  table: string;
  /** The chain key's value as text; null for a table without a key, or for rows whose key is NULL. */
  chain_key: string | null;
  chain_seq: string;
  /** Sealed rows of the chain up to and including chain_seq, counted from its genesis. */
  sealed_count: string;
  checksum: string;
  signed_at: string;
  key_id: string;
}

export interface SignedAttachedCheckpoint extends AttachedCheckpointBody {
  signature: string;
}

export const ATTACHED_CHECKPOINT_KEYS = ['v', 'schema', 'table', 'chain_key', 'chain_seq', 'sealed_count', 'checksum', 'signed_at', 'key_id'] as const;

const POSITIVE_DECIMAL = /^[1-9]\d*$/;

/** Text PostgreSQL can store and UTF-8 can carry: no NUL, no lone surrogate. */
function wellFormedText(value: string): boolean {
  return !value.includes('\u0000') && !/\p{Cs}/u.test(value);
}

function show(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value) ?? String(value);
}

export function assertAttachedCheckpointBody(value: unknown, extraKeys: readonly string[] = []): asserts value is AttachedCheckpointBody {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CheckpointFormatError(`checkpoint: got ${show(value)}, want a JSON object`);
  const record = value as Record<string, unknown>;
  const allowed = new Set<string>([...ATTACHED_CHECKPOINT_KEYS, ...extraKeys]);
  for (const key of Object.keys(record)) {
    if (!allowed.has(key)) throw new CheckpointFormatError(`checkpoint: got unexpected member ${JSON.stringify(key)}, want only ${[...allowed].join(', ')}`);
  }
  if (record.v !== ATTACHED_CHECKPOINT_VERSION) throw new CheckpointFormatError(`v: got ${show(record.v)}, want ${ATTACHED_CHECKPOINT_VERSION}`);
  for (const name of ['schema', 'table'] as const) {
    const field = record[name];
    if (typeof field !== 'string' || field.length === 0 || Buffer.byteLength(field, 'utf8') > 63 || !wellFormedText(field)) {
      throw new CheckpointFormatError(`${name}: got ${show(field)}, want a PostgreSQL name (1 to 63 bytes of UTF-8, no NUL)`);
    }
  }
  if (record.chain_key !== null && (typeof record.chain_key !== 'string' || !wellFormedText(record.chain_key))) {
    throw new CheckpointFormatError(`chain_key: got ${show(record.chain_key)}, want a string (the key's text, no NUL) or null`);
  }
  for (const name of ['chain_seq', 'sealed_count'] as const) {
    const field = record[name];
    if (typeof field !== 'string' || !POSITIVE_DECIMAL.test(field) || BigInt(field) > 9223372036854775807n) {
      throw new CheckpointFormatError(`${name}: got ${show(field)}, want a positive decimal string without leading zeros`);
    }
  }
  if (typeof record.checksum !== 'string' || !HEX64.test(record.checksum)) throw new CheckpointFormatError(`checksum: got ${show(record.checksum)}, want 64 lowercase hex digits`);
  try {
    parseUtcInstant(record.signed_at as string, 'signed_at', { fractionDigits: [3, 6] });
  } catch (error) {
    if (error instanceof InstantFormatError) throw new CheckpointFormatError(error.message);
    throw error;
  }
  assertKeyId(record.key_id);
}

function bodyOf(checkpoint: AttachedCheckpointBody): AttachedCheckpointBody {
  const { v, schema, table, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id } = checkpoint;
  return { v, schema, table, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id };
}

/** The exact text that is signed: RFC 8785 of the nine members. */
export function attachedCheckpointPayload(checkpoint: AttachedCheckpointBody): string {
  const body = bodyOf(checkpoint);
  assertAttachedCheckpointBody(body);
  return canonicalize(body)!;
}

export async function signAttachedCheckpoint(draft: Omit<AttachedCheckpointBody, 'v' | 'key_id'>, signer: CheckpointSigner): Promise<SignedAttachedCheckpoint> {
  assertKeyId(signer.keyId, 'signer.keyId');
  const body = bodyOf({ ...draft, v: ATTACHED_CHECKPOINT_VERSION, key_id: signer.keyId });
  const signature = await signer.sign(new Uint8Array(Buffer.from(attachedCheckpointPayload(body), 'utf8')));
  if (!(signature instanceof Uint8Array) || signature.length !== 64) throw new CheckpointFormatError('signature: want 64 bytes (Ed25519)');
  return { ...body, signature: Buffer.from(signature).toString('base64url') };
}

/** One exported line (sinks, the cut's record): RFC 8785 of the body plus `signature`. */
export function attachedCheckpointLine(checkpoint: SignedAttachedCheckpoint): string {
  assertAttachedCheckpointBody(checkpoint, ['signature']);
  if (decodeSignature(checkpoint.signature) === null) throw new CheckpointFormatError(`signature: got ${show(checkpoint.signature)}, want 86 base64url characters`);
  return canonicalize({ ...bodyOf(checkpoint), signature: checkpoint.signature })!;
}

export type AttachedCheckpointVerdict = { ok: true; checkpoint: AttachedCheckpointBody } | { ok: false; reason: string };

/**
 * Accepts a line only if it is well formed, its key is in the keyring and was
 * valid at signed_at, and the Ed25519 signature verifies over the payload.
 */
export function verifyAttachedCheckpoint(value: unknown, keyring: readonly CheckpointPublicKey[]): AttachedCheckpointVerdict {
  try {
    assertAttachedCheckpointBody(value, ['signature']);
  } catch (error) {
    if (error instanceof CheckpointFormatError) return { ok: false, reason: `malformed checkpoint: ${error.message}` };
    throw error;
  }
  const signed = value as SignedAttachedCheckpoint;
  const signature = decodeSignature(signed.signature);
  if (signature === null) return { ok: false, reason: 'signature: want 86 base64url characters (64 bytes)' };
  const entry = keyring.find((candidate) => candidate.keyId === signed.key_id);
  if (!entry) return { ok: false, reason: `key_id ${JSON.stringify(signed.key_id)} is not in the keyring` };
  const at = parseUtcInstant(signed.signed_at, 'signed_at', { fractionDigits: [3, 6] });
  if (at < instantOf(entry.validFrom, 'validFrom') || (entry.validUntil != null && at >= instantOf(entry.validUntil, 'validUntil'))) {
    return { ok: false, reason: `signed_at ${signed.signed_at} is outside key ${entry.keyId}'s validity window` };
  }
  const key = typeof entry.publicKey === 'string'
    ? createPublicKey(entry.publicKey)
    : entry.publicKey instanceof Uint8Array
      ? createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(entry.publicKey).toString('base64url') }, format: 'jwk' })
      : entry.publicKey;
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') return { ok: false, reason: `key ${entry.keyId} is not a public ed25519 key` };
  if (!cryptoVerify(null, Buffer.from(attachedCheckpointPayload(signed), 'utf8'), key, signature)) {
    return { ok: false, reason: `the Ed25519 signature does not verify under key ${entry.keyId}` };
  }
  return { ok: true, checkpoint: bodyOf(signed) };
}
