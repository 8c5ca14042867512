import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compareChains, compareUtf8, mergePage, type SortedChain } from './chain-order.ts';
import { decodeCheckpointCursor, decodeOverviewCursor, encodeCheckpointCursor, encodeOverviewCursor } from './cursor.ts';
import { formatAge, formatLatency, renderTable } from './format.ts';
import { describeLatency, mergeHistograms, parseWorkerHistogram, quantile } from './histogram.ts';
import { lateralByOrg } from './sql.ts';
import { throughput } from './totals.ts';

describe('seal latency histograms', () => {
  test('workers with the same bounds add up bucket by bucket', () => {
    const a = parseWorkerHistogram({ le: [10, 100], counts: [3, 1, 0], sum_ms: 50, count: 4 })!;
    const b = parseWorkerHistogram({ le: [10, 100], counts: [1, 0, 2], sum_ms: 900, count: 3 })!;
    const merged = mergeHistograms([a, b]);
    expect(merged).toEqual({ bounds: [10, 100], counts: [4, 1, 2], sumMs: 950, count: 7 });
    expect(describeLatency(merged).buckets).toEqual([
      { le_ms: 10, count: 4 },
      { le_ms: 100, count: 5 },
      { le_ms: null, count: 7 },
    ]);
  });

  test('different bounds merge over their union; each observation stays in its own upper bound', () => {
    const merged = mergeHistograms([
      parseWorkerHistogram({ le: [10, 100], counts: [1, 1, 0], sum_ms: 0 })!,
      parseWorkerHistogram({ le: [50], counts: [2, 1], sum_ms: 0 })!,
    ]);
    expect(merged.bounds).toEqual([10, 50, 100]);
    expect(merged.counts).toEqual([1, 2, 1, 1]);
  });

  test('malformed heartbeat histograms are ignored, not guessed at', () => {
    expect(parseWorkerHistogram(null)).toBeUndefined();
    expect(parseWorkerHistogram({ le: [10, 5], counts: [0, 0, 0] })).toBeUndefined();
    expect(parseWorkerHistogram({ le: [10], counts: [1] })).toBeUndefined();
    expect(parseWorkerHistogram({ le: [10], counts: [1, -1] })).toBeUndefined();
  });

  test('quantiles interpolate inside the bucket, as histogram_quantile does', () => {
    const merged = mergeHistograms([parseWorkerHistogram({ le: [10, 100], counts: [5, 5, 0], sum_ms: 0 })!]);
    expect(quantile(merged, 0.5)).toBe(10);
    expect(quantile(merged, 0.75)).toBe(55);
    const tail = mergeHistograms([parseWorkerHistogram({ le: [10], counts: [0, 4], sum_ms: 0 })!]);
    expect(quantile(tail, 0.99)).toBe(10);
    expect(quantile(mergeHistograms([]), 0.5)).toBeNull();
  });
});

describe('cursors', () => {
  test('round trip, and anything else is refused', () => {
    const cursor = { attention: 1 as const, pending: 12n, sinceMicros: 1_700_000_000_123_456n, tableId: 1, key: '0190a5f0-0000-7000-8000-00000000000a' };
    expect(decodeOverviewCursor(encodeOverviewCursor(cursor))).toEqual(cursor);
    // An attached table's key is any text, separators and non-ASCII included.
    const attached = { ...cursor, tableId: 3, key: 'ktenant:ä/€:' };
    expect(decodeOverviewCursor(encodeOverviewCursor(attached))).toEqual(attached);
    expect(decodeOverviewCursor('nope')).toBeUndefined();
    expect(decodeOverviewCursor(Buffer.from('lag:0:1:2:x:a').toString('base64url'))).toBeUndefined();
    expect(decodeCheckpointCursor(encodeCheckpointCursor({ id: 7n, chainSeq: 99n }))).toEqual({ id: 7n, chainSeq: 99n });
    expect(decodeCheckpointCursor(encodeOverviewCursor(cursor))).toBeUndefined();
  });
});

describe('one order across tables', () => {
  // Well-formed text (what PostgreSQL stores), weighted to where UTF-16 and UTF-8 orders differ.
  const codePoint = fc.oneof(fc.integer({ min: 0x20, max: 0x7f }), fc.integer({ min: 0xe000, max: 0xffff }), fc.integer({ min: 0x10000, max: 0x10ffff }), fc.integer({ min: 0x80, max: 0xd7ff }));
  const text = fc.array(codePoint, { maxLength: 4 }).map((points) => String.fromCodePoint(...points));
  test('chain keys compare as UTF-8 bytes, as PostgreSQL\'s "C" collation does', () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(Math.sign(compareUtf8(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))));
      }),
      { numRuns: 2000 },
    );
    expect(Math.sign(compareUtf8('\u{1F600}', '\uFFFD'))).toBe(1);
  });
  const sortKey = fc.record({
    attention: fc.constantFrom(0 as const, 1 as const),
    pending: fc.bigInt({ min: 0n, max: 5n }),
    sinceMicros: fc.bigInt({ min: 0n, max: 3n }),
    tableId: fc.integer({ min: 1, max: 3 }),
    key: fc.string({ maxLength: 3 }),
  });
  test('paging the merge of sorted lists by its cursor lists every chain once, in order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(sortKey, { selector: (k) => `${k.tableId}/${k.key}`, maxLength: 30 }), fc.integer({ min: 1, max: 7 }), (keys, limit) => {
        const chains: SortedChain[] = keys.map((sort, n) => ({ sort, lag: { chain: String(n) } as SortedChain['lag'] }));
        const byTable = [1, 2, 3].map((id) => chains.filter((chain) => chain.sort.tableId === id).sort((a, b) => compareChains(a.sort, b.sort)));
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let pages = 0; pages <= chains.length; pages += 1) {
          const page = mergePage(byTable, limit, cursor === null ? undefined : decodeOverviewCursor(cursor));
          seen.push(...page.chains.map((chain) => chain.chain));
          cursor = page.nextCursor;
          if (cursor === null) break;
        }
        const want = [...chains].sort((a, b) => compareChains(a.sort, b.sort)).map((chain) => chain.lag.chain);
        expect(seen).toEqual(want);
      }),
    );
  });
});

test('throughput is the sealed-row delta over the time between two readings', () => {
  expect(throughput({ sealed_rows: 100, at: '2026-01-01T00:00:00.000000Z' }, { sealed_rows: 250, at: '2026-01-01T00:00:30.000000Z' })).toEqual({
    rows_per_second: 5,
    window_seconds: 30,
    method: 'sealed_count_delta',
  });
  expect(throughput({ sealed_rows: 1, at: '2026-01-01T00:00:30Z' }, { sealed_rows: 2, at: '2026-01-01T00:00:30Z' })).toBeNull();
});

test('per-chain probes have a branch for the system chain that still stops at the first index entry', () => {
  const sql = lateralByOrg('p.org_id', { select: 'a.chain_seq', table: 'audit_logs', alias: 'a', where: 'a.chain_seq > p.w', orderBy: 'a.chain_seq desc' });
  expect(sql).toContain('a.org_id = p.org_id and a.chain_seq > p.w order by a.org_id desc, a.chain_seq desc limit 1');
  expect(sql).toContain('p.org_id is null and a.org_id is null and a.chain_seq > p.w order by a.org_id desc, a.chain_seq desc limit 1');
});

test('text rendering: ages and aligned columns', () => {
  expect([formatAge(null), formatAge(0.25), formatAge(42.9), formatAge(312), formatAge(3 * 3600 + 300), formatAge(2 * 86_400 + 4 * 3600)]).toEqual([
    '-',
    '0.3s',
    '42s',
    '5m12s',
    '3h05m',
    '2d04h',
  ]);
  expect(renderTable(['A', 'N'], [['x', '5'], ['long', '12']], new Set([1]))).toEqual(['A      N', 'x      5', 'long  12']);
});

test('latency in the unit that reads best, up to hours', () => {
  expect([null, 12.4, 999, 57_439.024, 60_000, 90_000, 3_599_000, 8_100_000].map(formatLatency)).toEqual([
    '-',
    '12 ms',
    '999 ms',
    '57.4 s',
    '1 min',
    '1.5 min',
    '60 min',
    '2.25 h',
  ]);
});

test('a 90 s seal lands in a finite bucket of the workers\' histogram, and the quantile reads it', () => {
  // The bounds the worker writes (apps/worker/src/stats.ts): past a minute, up to hours.
  const le = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000];
  const counts = le.map(() => 0).concat(0);
  counts[le.indexOf(120_000)] = 10;
  const merged = mergeHistograms([parseWorkerHistogram({ le, counts, sum_ms: 900_000, count: 10 })!]);
  const p95 = quantile(merged, 0.95)!;
  expect(p95).toBeGreaterThan(60_000);
  expect(p95).toBeLessThanOrEqual(120_000);
  expect(formatLatency(p95)).toBe('1.9 min');
});
