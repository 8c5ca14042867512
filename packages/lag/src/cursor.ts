// The overview's keyset cursor: the sort key of the last chain on a page
// (needs attention 1/0, pending rows, waiting-since in microseconds, the
// chained table's registry id and the chain's sort key within the table),
// base64url-encoded so clients pass it back as an opaque token.

export interface OverviewCursor {
  /** 1 for a halted chain, one whose latest verification found breaks, or one of a drifted table. */
  attention: 0 | 1;
  pending: bigint;
  sinceMicros: bigint;
  /** audit_chain_tables.id of the chain's table. */
  tableId: number;
  /** The chain's sort key within its table (chain-order.ts). */
  key: string;
}

const INT = /^-?[0-9]{1,19}$/;
const ID = /^[0-9]{1,9}$/;

export function encodeOverviewCursor(cursor: OverviewCursor): string {
  const key = Buffer.from(cursor.key, 'utf8').toString('base64url');
  return Buffer.from(`lag:${cursor.attention}:${cursor.pending}:${cursor.sinceMicros}:${cursor.tableId}:${key}`, 'utf8').toString('base64url');
}

/** The cursor, or undefined when `text` is not one this package issued. */
export function decodeOverviewCursor(text: string): OverviewCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,4000}$/.test(text)) return undefined;
  const parts = Buffer.from(text, 'base64url').toString('utf8').split(':');
  if (parts.length !== 6 || parts[0] !== 'lag') return undefined;
  const [, attention, pending, since, tableId, key] = parts as [string, string, string, string, string, string];
  if ((attention !== '0' && attention !== '1') || !INT.test(pending) || !INT.test(since) || !ID.test(tableId) || !/^[A-Za-z0-9_-]*$/.test(key)) return undefined;
  return { attention: attention === '1' ? 1 : 0, pending: BigInt(pending), sinceMicros: BigInt(since), tableId: Number(tableId), key: Buffer.from(key, 'base64url').toString('utf8') };
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
