// A worker thread checking attached tables' rows (format v2): the content
// check of each row (its checksum and personal digest recomputed), the costly
// part of verify-attached.ts, which reads the rows and checks links in order.
import { checkRowV2, formatV2Layout, type CoveredColumn, type FormatV2Layout, type ProblemV2, type StoredRowV2 } from '@audit-chain/chain';

export interface AttachedRowsTask {
  covered: readonly CoveredColumn[];
  /** Sealed rows to check; null where a row is not checked (pending or unsealed). */
  rows: (StoredRowV2 | null)[];
}

/** The last column set's compiled layout, kept between tasks (a table's revisions come one after another). */
let cached: { key: string; layout: FormatV2Layout } | null = null;

function layoutOf(covered: readonly CoveredColumn[]): FormatV2Layout {
  const key = JSON.stringify(covered);
  if (cached?.key !== key) cached = { key, layout: formatV2Layout(covered) };
  return cached.layout;
}

/** checkRowV2 of each row, in order (null: the row holds, or was not checked). */
export default function checkAttachedRows(task: AttachedRowsTask): (ProblemV2 | null)[] {
  const layout = layoutOf(task.covered);
  return task.rows.map((row) => (row === null ? null : checkRowV2(layout, row)));
}
