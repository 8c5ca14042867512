// Signed checkpoints (docs/chain-format.md, "Checkpoints"): version 1 for the
// chains of audit_logs (named by org_id), version 2 for the chains of attached
// tables (named by schema, table and chain key). A checkpoint is a chain head
// signed with a key the database never sees. The signer is passed in: this
// package holds no keys and reads no clock.
import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { InstantFormatError, parseUtcInstant } from './instant.ts';
import { HEX64 } from './row-validation.ts';

export const CHECKPOINT_VERSION = 1;
export const TABLE_CHECKPOINT_VERSION = 2;

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

/** A checkpoint of an attached table's chain: the signed bytes are the RFC 8785 form of exactly these nine members. */
export interface TableCheckpointBody {
  v: 2;
  /** The table's schema and name, as PostgreSQL stores them (two members, so no name can be read as another). */
  schema: string;
  table: string;
  /** The chain key's value as text; null: the table's only chain (no key column), or its rows whose key is NULL. */
  chain_key: string | null;
  chain_seq: string;
  sealed_count: string;
  checksum: string;
  signed_at: string;
  key_id: string;
}

export type AnyCheckpointBody = CheckpointBody | TableCheckpointBody;

export interface SignedCheckpoint extends CheckpointBody {
  /** Ed25519 signature over checkpointPayload(body): 64 bytes, base64url without padding. */
  signature: string;
}

export interface SignedTableCheckpoint extends TableCheckpointBody {
  signature: string;
}

export type AnySignedCheckpoint = SignedCheckpoint | SignedTableCheckpoint;

export type TableCheckpointDraft = Omit<TableCheckpointBody, 'v' | 'key_id'> & { v?: 2; key_id?: string };

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
export const TABLE_CHECKPOINT_BODY_KEYS = ['v', 'schema', 'table', 'chain_key', 'chain_seq', 'sealed_count', 'checksum', 'signed_at', 'key_id'] as const;

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

function assertObject(value: unknown, keys: readonly string[], extraKeys: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckpointFormatError(`checkpoint: got ${show(value)}, want a JSON object`);
  }
  const record = value as Record<string, unknown>;
  const allowed = new Set<string>([...keys, ...extraKeys]);
  for (const key of Object.keys(record)) {
    if (!allowed.has(key)) throw new CheckpointFormatError(`checkpoint: got unexpected member ${JSON.stringify(key)}, want only ${[...allowed].join(', ')}`);
  }
  return record;
}

/** The members both versions share: chain_seq, sealed_count, checksum, signed_at, key_id. */
function assertHead(record: Record<string, unknown>): void {
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

/** Checks every field of a version 1 body (audit_logs); `extraKeys` lists the members allowed besides the seven (e.g. `signature`). */
export function assertCheckpointBody(value: unknown, extraKeys: readonly string[] = []): asserts value is CheckpointBody {
  const record = assertObject(value, CHECKPOINT_BODY_KEYS, extraKeys);
  if (record.v !== CHECKPOINT_VERSION) throw new CheckpointFormatError(`v: got ${show(record.v)}, want ${CHECKPOINT_VERSION}`);
  if (record.org_id !== null && (typeof record.org_id !== 'string' || !UUID.test(record.org_id))) {
    throw new CheckpointFormatError(`org_id: got ${show(record.org_id)}, want a lowercase UUID or null`);
  }
  assertHead(record);
}

/** Text PostgreSQL can store and UTF-8 can carry: no NUL, no lone surrogate. */
function wellFormedText(value: string): boolean {
  return !value.includes('\u0000') && !/\p{Cs}/u.test(value);
}

/** A PostgreSQL name as stored: 1 to 63 bytes of UTF-8, no NUL. */
function assertName(value: unknown, what: string): void {
  if (typeof value !== 'string' || value.length === 0 || Buffer.byteLength(value, 'utf8') > 63 || !wellFormedText(value)) {
    throw new CheckpointFormatError(`${what}: got ${show(value)}, want a PostgreSQL name (1 to 63 bytes of UTF-8, no NUL)`);
  }
}

/** Checks every field of a version 2 body (an attached table's chain). */
export function assertTableCheckpointBody(value: unknown, extraKeys: readonly string[] = []): asserts value is TableCheckpointBody {
  const record = assertObject(value, TABLE_CHECKPOINT_BODY_KEYS, extraKeys);
  if (record.v !== TABLE_CHECKPOINT_VERSION) throw new CheckpointFormatError(`v: got ${show(record.v)}, want ${TABLE_CHECKPOINT_VERSION}`);
  assertName(record.schema, 'schema');
  assertName(record.table, 'table');
  if (record.chain_key !== null && (typeof record.chain_key !== 'string' || !wellFormedText(record.chain_key))) {
    throw new CheckpointFormatError(`chain_key: got ${show(record.chain_key)}, want a string (the key's text, no NUL) or null`);
  }
  assertHead(record);
}

/** Either version, told apart by `v`. */
export function assertAnyCheckpointBody(value: unknown, extraKeys: readonly string[] = []): asserts value is AnyCheckpointBody {
  if (value !== null && typeof value === 'object' && (value as Record<string, unknown>).v === TABLE_CHECKPOINT_VERSION) assertTableCheckpointBody(value, extraKeys);
  else if (value !== null && typeof value === 'object' && (value as Record<string, unknown>).v !== CHECKPOINT_VERSION) {
    throw new CheckpointFormatError(`v: got ${show((value as Record<string, unknown>).v)}, want ${CHECKPOINT_VERSION} or ${TABLE_CHECKPOINT_VERSION}`);
  } else assertCheckpointBody(value, extraKeys);
}

/** Whether a checkpoint (trusted or only claimed) is about an attached table's chain. */
export function isTableCheckpoint(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && ((value as Record<string, unknown>).v === TABLE_CHECKPOINT_VERSION || 'table' in value);
}

function bodyOf(checkpoint: CheckpointBody): CheckpointBody;
function bodyOf(checkpoint: TableCheckpointBody): TableCheckpointBody;
function bodyOf(checkpoint: AnyCheckpointBody): AnyCheckpointBody;
function bodyOf(checkpoint: AnyCheckpointBody): AnyCheckpointBody {
  if (checkpoint.v === TABLE_CHECKPOINT_VERSION) {
    const { v, schema, table, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id } = checkpoint;
    return { v, schema, table, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id };
  }
  const { v, org_id, chain_seq, sealed_count, checksum, signed_at, key_id } = checkpoint;
  return { v, org_id, chain_seq, sealed_count, checksum, signed_at, key_id };
}

/** The exact text that is signed: RFC 8785 of the body members, seven (v 1) or nine (v 2); a `signature` member, if present, is left out. */
export function checkpointPayload(checkpoint: AnyCheckpointBody): string {
  const body = bodyOf(checkpoint);
  assertAnyCheckpointBody(body);
  return canonicalize(body)!;
}

export function checkpointPayloadBytes(checkpoint: AnyCheckpointBody): Uint8Array {
  return new Uint8Array(Buffer.from(checkpointPayload(checkpoint), 'utf8'));
}

export async function signCheckpoint(draft: CheckpointDraft, signer: CheckpointSigner): Promise<SignedCheckpoint> {
  assertSignerKey(draft.key_id, signer);
  const body: CheckpointBody = bodyOf({ ...draft, v: CHECKPOINT_VERSION, key_id: signer.keyId });
  return { ...body, signature: await signBody(body, signer) };
}

/** Signs the head of an attached table's chain (version 2). */
export async function signTableCheckpoint(draft: TableCheckpointDraft, signer: CheckpointSigner): Promise<SignedTableCheckpoint> {
  assertSignerKey(draft.key_id, signer);
  const body: TableCheckpointBody = bodyOf({ ...draft, v: TABLE_CHECKPOINT_VERSION, key_id: signer.keyId });
  return { ...body, signature: await signBody(body, signer) };
}

function assertSignerKey(keyId: string | undefined, signer: CheckpointSigner): void {
  assertKeyId(signer.keyId, 'signer.keyId');
  if (keyId !== undefined && keyId !== signer.keyId) {
    throw new CheckpointFormatError(`key_id: got ${show(keyId)}, want the signer's ${JSON.stringify(signer.keyId)}`);
  }
}

async function signBody(body: AnyCheckpointBody, signer: CheckpointSigner): Promise<string> {
  const signature = await signer.sign(checkpointPayloadBytes(body));
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    throw new CheckpointFormatError(`signature: got ${signature instanceof Uint8Array ? `${signature.length} bytes` : typeof signature}, want 64 bytes (Ed25519)`);
  }
  return Buffer.from(signature).toString('base64url');
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
export function checkpointLine(checkpoint: AnySignedCheckpoint): string {
  assertAnyCheckpointBody(checkpoint, ['signature']);
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
