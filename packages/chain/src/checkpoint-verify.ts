// Checks checkpoint signatures against a keyring of public keys with validity
// windows (key rotation). Only checkpoints accepted here may be trusted by
// verifyChain; a checkpoint read from the database is worth nothing until then.
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { ChainBreak } from './breaks.ts';
import {
  assertAnyCheckpointBody,
  assertKeyId,
  type AnyCheckpointBody,
  type CheckpointBody,
  checkpointPayloadBytes,
  CheckpointFormatError,
  decodeSignature,
  isTableCheckpoint,
  parseCheckpointLine,
  type TableCheckpointBody,
} from './checkpoint.ts';
import { InstantFormatError, instantOf, parseUtcInstant } from './instant.ts';

const CHAIN_ORG_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface CheckpointPublicKey {
  keyId: string;
  /** SPKI PEM text, the raw 32-byte Ed25519 public key, or a public KeyObject. */
  publicKey: string | Uint8Array | KeyObject;
  /** The key may sign checkpoints whose signed_at is at or after validFrom... */
  validFrom: string | Date;
  /** ...and strictly before validUntil (open-ended when absent). */
  validUntil?: string | Date | null;
}

export type CheckpointVerdict =
  | { ok: true; checkpoint: AnyCheckpointBody }
  | { ok: false; kind: 'checkpoint_signature_invalid' | 'checkpoint_key_unknown'; reason: string };

export class KeyringError extends Error {
  override name = 'KeyringError';
}

interface PreparedKey {
  keyId: string;
  key: KeyObject;
  from: bigint;
  until: bigint | null;
  window: string;
}

function publicKeyObject(entry: CheckpointPublicKey): KeyObject {
  const { publicKey, keyId } = entry;
  let key: KeyObject;
  try {
    if (typeof publicKey === 'string') {
      if (publicKey.includes('PRIVATE KEY')) throw new KeyringError(`key ${keyId}: got a private key, want only the public key in a keyring`);
      key = createPublicKey(publicKey);
    } else if (publicKey instanceof Uint8Array) {
      if (publicKey.length !== 32) throw new KeyringError(`key ${keyId}: got a raw key of ${publicKey.length} bytes, want 32 (Ed25519)`);
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
    } else {
      key = publicKey;
    }
  } catch (error) {
    if (error instanceof KeyringError) throw error;
    throw new KeyringError(`key ${keyId}: cannot read the public key (${(error as Error).message})`);
  }
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') {
    throw new KeyringError(`key ${keyId}: got a ${key.type} ${key.asymmetricKeyType ?? ''} key, want a public ed25519 key`);
  }
  return key;
}

function keyInstant(value: string | Date, what: string): bigint {
  try {
    return instantOf(value, what);
  } catch (error) {
    if (error instanceof InstantFormatError) throw new KeyringError(error.message);
    throw error;
  }
}

/** Validates the keyring and indexes it by key id. Throws KeyringError on bad configuration. */
function prepareKeyring(keyring: readonly CheckpointPublicKey[]): Map<string, PreparedKey> {
  const keys = new Map<string, PreparedKey>();
  for (const entry of keyring) {
    try {
      assertKeyId(entry.keyId, 'keyId');
    } catch (error) {
      throw new KeyringError((error as Error).message);
    }
    if (keys.has(entry.keyId)) throw new KeyringError(`key ${entry.keyId}: got it twice in the keyring, want each key id once`);
    const from = keyInstant(entry.validFrom, `key ${entry.keyId} validFrom`);
    const until = entry.validUntil == null ? null : keyInstant(entry.validUntil, `key ${entry.keyId} validUntil`);
    if (until !== null && until <= from) throw new KeyringError(`key ${entry.keyId}: validUntil is not after validFrom, want a non-empty window`);
    const window = `[${String(entry.validFrom instanceof Date ? entry.validFrom.toISOString() : entry.validFrom)}, ${
      entry.validUntil == null ? 'open' : entry.validUntil instanceof Date ? entry.validUntil.toISOString() : entry.validUntil
    })`;
    keys.set(entry.keyId, { keyId: entry.keyId, key: publicKeyObject(entry), from, until, window });
  }
  return keys;
}

/**
 * Accepts a checkpoint only if it is well formed (the seven body members of
 * version 1 or the nine of version 2, plus `signature`, nothing else), its key id is in the keyring, its signed_at lies in
 * that key's validity window, and the Ed25519 signature verifies.
 */
export function verifyCheckpointSignature(checkpoint: unknown, keyring: readonly CheckpointPublicKey[]): CheckpointVerdict {
  return verifyWith(checkpoint, prepareKeyring(keyring));
}

function verifyWith(checkpoint: unknown, keys: Map<string, PreparedKey>): CheckpointVerdict {
  try {
    assertAnyCheckpointBody(checkpoint, ['signature']);
  } catch (error) {
    if (error instanceof CheckpointFormatError) return { ok: false, kind: 'checkpoint_signature_invalid', reason: `malformed checkpoint: ${error.message}` };
    throw error;
  }
  const signed = checkpoint as AnyCheckpointBody & { signature?: unknown };
  const signature = decodeSignature(signed.signature);
  if (signature === null) {
    return { ok: false, kind: 'checkpoint_signature_invalid', reason: `signature: got ${JSON.stringify(signed.signature) ?? 'undefined'}, want 86 base64url characters (64 bytes)` };
  }
  const key = keys.get(signed.key_id);
  if (!key) return { ok: false, kind: 'checkpoint_key_unknown', reason: `key_id ${JSON.stringify(signed.key_id)} is not in the keyring` };
  const signedAt = parseUtcInstant(signed.signed_at, 'signed_at', { fractionDigits: [3, 6] });
  if (signedAt < key.from || (key.until !== null && signedAt >= key.until)) {
    return { ok: false, kind: 'checkpoint_key_unknown', reason: `signed_at ${signed.signed_at} is outside key ${key.keyId}'s validity window ${key.window}` };
  }
  const { signature: _ignored, ...body } = signed;
  if (!cryptoVerify(null, checkpointPayloadBytes(body as AnyCheckpointBody), key.key, signature)) {
    return { ok: false, kind: 'checkpoint_signature_invalid', reason: `the Ed25519 signature does not verify under key ${key.keyId}` };
  }
  return { ok: true, checkpoint: body as AnyCheckpointBody };
}

export interface CheckpointBreak extends ChainBreak {
  kind: 'checkpoint_signature_invalid' | 'checkpoint_key_unknown';
  /** The audit_logs chain the checkpoint claims to be about; undefined when it cannot be read or it claims an attached table. */
  orgId: string | null | undefined;
  /** Set when it claims to be about an attached table's chain (version 2): what it names, as far as it can be read. */
  tableClaim?: { schema: string | null; table: string | null; chainKey: string | null | undefined };
  /** Position of the checkpoint in the input (line index for a sink file). */
  index: number;
}

/**
 * Sorts a set of exported checkpoints (parsed objects or raw lines) into those
 * whose signature holds and breaks for the rest. Group `trusted` by org_id and
 * hand each chain its own to verifyChain; `trustedTables` are the attached
 * tables' checkpoints (version 2).
 */
export function checkCheckpoints(
  entries: Iterable<unknown>,
  keyring: readonly CheckpointPublicKey[],
): { trusted: CheckpointBody[]; trustedTables: TableCheckpointBody[]; breaks: CheckpointBreak[] } {
  const keys = prepareKeyring(keyring);
  const trusted: CheckpointBody[] = [];
  const trustedTables: TableCheckpointBody[] = [];
  const breaks: CheckpointBreak[] = [];
  let index = -1;
  for (const entry of entries) {
    index += 1;
    let value: unknown = entry;
    if (typeof entry === 'string') {
      try {
        value = parseCheckpointLine(entry);
      } catch (error) {
        breaks.push({ kind: 'checkpoint_signature_invalid', chainSeq: null, rowId: null, expected: null, found: null, message: (error as Error).message, orgId: undefined, index });
        continue;
      }
    }
    const verdict = verifyWith(value, keys);
    if (verdict.ok) {
      if (verdict.checkpoint.v === 2) trustedTables.push(verdict.checkpoint);
      else trusted.push(verdict.checkpoint);
      continue;
    }
    const claimed = (value !== null && typeof value === 'object' ? value : {}) as Record<string, unknown>;
    const claimedSeq = typeof claimed.chain_seq === 'string' ? claimed.chain_seq : null;
    // Only a well-formed org id names a chain; any other value (uppercase, not a uuid) names none, and the break is reported whatever the scope.
    const tableClaim = isTableCheckpoint(value)
      ? {
          schema: typeof claimed.schema === 'string' ? claimed.schema : null,
          table: typeof claimed.table === 'string' ? claimed.table : null,
          chainKey: claimed.chain_key === null || typeof claimed.chain_key === 'string' ? (claimed.chain_key as string | null) : undefined,
        }
      : undefined;
    const claimedOrg =
      !tableClaim && (claimed.org_id === null || (typeof claimed.org_id === 'string' && CHAIN_ORG_ID.test(claimed.org_id))) ? (claimed.org_id as string | null) : undefined;
    breaks.push({
      kind: verdict.kind,
      chainSeq: claimedSeq,
      rowId: null,
      expected: verdict.kind === 'checkpoint_key_unknown' ? 'a key in the keyring valid at signed_at' : 'a valid Ed25519 signature',
      found: verdict.kind === 'checkpoint_key_unknown' ? (typeof claimed.key_id === 'string' ? claimed.key_id : null) : (typeof claimed.signature === 'string' ? claimed.signature : null),
      message: `checkpoint${claimedSeq === null ? '' : ` at chain_seq ${claimedSeq}`}: ${verdict.reason}`,
      orgId: claimedOrg,
      ...(tableClaim ? { tableClaim } : {}),
      index,
    });
  }
  return { trusted, trustedTables, breaks };
}
