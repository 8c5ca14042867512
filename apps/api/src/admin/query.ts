// Query and path parameters of the admin routes, parsed by hand like the audit
// routes' (the server's ajv does not coerce, and query values are strings):
// every problem is reported at once in the API's one error shape.
import { decodeCheckpointCursor, decodeOverviewCursor, MAX_PAGE } from '@audit-chain/lag';
import { validationError, type FieldProblem } from '../errors.ts';
import { isUuid } from '../formats.ts';

export type RawQuery = Record<string, string | string[] | undefined>;

export class QueryParser {
  readonly problems: FieldProblem[] = [];
  readonly #raw: RawQuery;
  readonly #known = new Set<string>();

  constructor(raw: RawQuery) {
    this.#raw = raw;
  }

  #single(name: string): string | undefined {
    this.#known.add(name);
    const value = this.#raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      this.problems.push({ field: name, problem: 'must be given once' });
      return undefined;
    }
    return value;
  }

  limit(fallback: number, max = MAX_PAGE): number {
    const raw = this.#single('limit');
    if (raw === undefined) return fallback;
    const value = /^[0-9]{1,4}$/.test(raw) ? Number(raw) : NaN;
    if (value >= 1 && value <= max) return value;
    this.problems.push({ field: 'limit', problem: `must be one integer from 1 to ${max}` });
    return fallback;
  }

  overviewCursor() {
    const raw = this.#single('cursor');
    if (raw === undefined) return undefined;
    const cursor = decodeOverviewCursor(raw);
    if (!cursor) this.problems.push({ field: 'cursor', problem: 'must be a next_cursor value returned by this endpoint' });
    return cursor;
  }

  checkpointCursor() {
    const raw = this.#single('cursor');
    if (raw === undefined) return undefined;
    const cursor = decodeCheckpointCursor(raw);
    if (!cursor) this.problems.push({ field: 'cursor', problem: 'must be a next_cursor value returned by this endpoint' });
    return cursor;
  }

  /** An optional text value (a table name, a chain id: any text, '' only when `allowEmpty`). */
  text(name: string, allowEmpty = false): string | undefined {
    const raw = this.#single(name);
    if (raw !== '' || allowEmpty) return raw;
    this.problems.push({ field: name, problem: 'must not be empty' });
    return undefined;
  }

  /** An optional chain filter: undefined (all chains), null (the system chain) or a uuid. */
  chain(name: string): string | null | undefined {
    const raw = this.#single(name);
    if (raw === undefined) return undefined;
    return parseChain(raw, name, this.problems);
  }

  /** Throws a 400 listing every problem, including parameters the route does not know. */
  done(): void {
    for (const name of Object.keys(this.#raw)) {
      if (!this.#known.has(name)) this.problems.push({ field: name, problem: 'is not a known query parameter' });
    }
    if (this.problems.length > 0) throw validationError(this.problems, 'the request is invalid');
  }
}

/** 'system' is the chain of rows with a NULL org_id; anything else must be a uuid. */
export function parseChain(raw: string, field: string, problems: FieldProblem[]): string | null {
  if (raw === 'system') return null;
  if (isUuid(raw)) return raw.toLowerCase();
  problems.push({ field, problem: 'must be a uuid, or "system" for the system chain' });
  return null;
}
