// One order for the chains of every table: chains that need an operator first
// (halted, breaks in their latest verification, or a drifted table), then most
// pending rows, then waiting longest, then the table's registry id and the
// chain's sort key within it, so pages never overlap. audit_logs' chains are
// sorted and paged in SQL (chain-queries.ts), attached tables' chains here; a
// page is the merge of both after the cursor.
import { encodeOverviewCursor, type OverviewCursor } from './cursor.ts';
import type { ChainLag } from './types.ts';

export interface ChainSortKey {
  attention: 0 | 1;
  pending: bigint;
  sinceMicros: bigint;
  tableId: number;
  /**
   * Within the table: audit_logs' chain key as uuid text (the nil uuid for the
   * system chain); an attached chain's key as 'k' || value, or '' for NULL.
   * Compared as UTF-8 bytes, as PostgreSQL's "C" collation does.
   */
  key: string;
}

export interface SortedChain {
  lag: ChainLag;
  sort: ChainSortKey;
}

/** Negative when `a` comes first. */
export function compareChains(a: ChainSortKey, b: ChainSortKey): number {
  if (a.attention !== b.attention) return b.attention - a.attention;
  if (a.pending !== b.pending) return a.pending > b.pending ? -1 : 1;
  if (a.sinceMicros !== b.sinceMicros) return a.sinceMicros < b.sinceMicros ? -1 : 1;
  if (a.tableId !== b.tableId) return a.tableId - b.tableId;
  return compareUtf8(a.key, b.key);
}

const isSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdfff;

/**
 * Strings in UTF-8 byte order (code point order), without encoding them: a
 * page sorts tens of thousands of tied chains. UTF-16 code units order the
 * same except a surrogate (a code point above U+FFFF) against U+E000..U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (isSurrogate(x) && !isSurrogate(y) && y >= 0xe000) return 1;
    if (isSurrogate(y) && !isSurrogate(x) && x >= 0xe000) return -1;
    return x - y;
  }
  return a.length - b.length;
}

/** Whether `chain` comes after the cursor's position. */
export function isAfter(chain: ChainSortKey, cursor: OverviewCursor | undefined): boolean {
  return cursor === undefined || compareChains(chain, cursor) > 0;
}

export interface MergedPage {
  chains: ChainLag[];
  nextCursor: string | null;
}

/**
 * The first `limit` chains after the cursor of several lists, each sorted and
 * each holding every chain of its part after the cursor up to at least
 * `limit + 1` (so whether more follow is known without a count).
 */
export function mergePage(lists: SortedChain[][], limit: number, cursor: OverviewCursor | undefined): MergedPage {
  const all = lists.flat().filter((chain) => isAfter(chain.sort, cursor));
  all.sort((a, b) => compareChains(a.sort, b.sort));
  const shown = all.slice(0, limit);
  const last = shown.at(-1);
  return { chains: shown.map((chain) => chain.lag), nextCursor: all.length > limit && last ? encodeOverviewCursor(last.sort) : null };
}
