// Opaque pagination cursor: the chain_seq of the last row a page returned,
// base64url-encoded so clients treat it as a token, not a number to compute with.

const MAX_BIGINT = 9223372036854775807n;

export function encodeCursor(chainSeq: string): string {
  return Buffer.from(`seq:${chainSeq}`, 'utf8').toString('base64url');
}

/** The chain_seq in the cursor, or undefined when it is not a cursor this API issued. */
export function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined;
  const match = /^seq:([1-9][0-9]{0,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || BigInt(match[1]!) > MAX_BIGINT) return undefined;
  return match[1];
}
