// The overview's keyset cursor: the sort key of the last chain on a page
// (needs attention 1/0, pending rows, waiting-since in microseconds, chain key),
// base64url-encoded so clients pass it back as an opaque token.

export interface OverviewCursor {
  /** 1 for a halted chain or one whose latest verification found breaks. */
  attention: 0 | 1;
  pending: bigint;
  sinceMicros: bigint;
  chainKey: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INT = /^-?[0-9]{1,19}$/;

export function encodeOverviewCursor(cursor: OverviewCursor): string {
  return Buffer.from(`lag:${cursor.attention}:${cursor.pending}:${cursor.sinceMicros}:${cursor.chainKey}`, 'utf8').toString('base64url');
}

/** The cursor, or undefined when `text` is not one this package issued. */
export function decodeOverviewCursor(text: string): OverviewCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,120}$/.test(text)) return undefined;
  const parts = Buffer.from(text, 'base64url').toString('utf8').split(':');
  if (parts.length !== 5 || parts[0] !== 'lag') return undefined;
  const [, attention, pending, since, key] = parts as [string, string, string, string, string];
  if ((attention !== '0' && attention !== '1') || !INT.test(pending) || !INT.test(since) || !UUID.test(key)) return undefined;
  return { attention: attention === '1' ? 1 : 0, pending: BigInt(pending), sinceMicros: BigInt(since), chainKey: key };
}

/** A checkpoint listing's position: the last row's id and chain_seq (with ?org= the listing follows the (org_id, chain_seq) index). */
export interface CheckpointCursor {
  id: bigint;
  chainSeq: bigint;
}

export function encodeCheckpointCursor(cursor: CheckpointCursor): string {
  return Buffer.from(`cp:${cursor.id}:${cursor.chainSeq}`, 'utf8').toString('base64url');
}

export function decodeCheckpointCursor(text: string): CheckpointCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(text)) return undefined;
  const match = /^cp:([1-9][0-9]{0,18}):([0-9]{1,19})$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  return match ? { id: BigInt(match[1]!), chainSeq: BigInt(match[2]!) } : undefined;
}
