// Checks what JSON schema cannot express but PostgreSQL refuses or alters: a
// NUL character (text and jsonb reject it, failing the whole batch with a 5xx
// otherwise), a lone UTF-16 surrogate (pg would store U+FFFD instead, so the row
// would not say what the client sent), and jsonb nested deeper than the
// server's stack allows. Walks iteratively so deep input cannot overflow ours.
import { isLosslessNumber } from 'lossless-json';
import type { FieldProblem } from './errors.ts';

/** Deep enough for any real audit payload, far below PostgreSQL's stack limit. */
export const MAX_DETAILS_DEPTH = 32;

export function findUnstorableText(value: unknown, basePath: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: basePath, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item.value === 'string') {
      const problem = textProblem(item.value);
      if (problem) problems.push({ field: item.path, problem });
      continue;
    }
    if (typeof item.value !== 'object' || item.value === null || isLosslessNumber(item.value)) continue;
    if (item.depth > MAX_DETAILS_DEPTH) {
      problems.push({ field: item.path, problem: `must not nest deeper than ${MAX_DETAILS_DEPTH} levels` });
      continue;
    }
    for (const [key, child] of Object.entries(item.value)) {
      const path = `${item.path}/${escapePointer(key)}`;
      const keyProblem = textProblem(key);
      if (keyProblem) problems.push({ field: path, problem: `key ${keyProblem}` });
      stack.push({ value: child, path, depth: item.depth + 1 });
    }
  }
  return problems.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
}

function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain the NUL character (\\u0000)';
  if (!text.isWellFormed()) return 'must be well-formed Unicode (no lone surrogate escapes)';
  return undefined;
}

/** RFC 6901: the field paths in error details are JSON pointers. */
export function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
