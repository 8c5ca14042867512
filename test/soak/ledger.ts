// What the writers know about every row they tried to write. A row is
// *acknowledged* (HTTP 201 arrived) or *committed* (SQL COMMIT returned) only
// when the writer saw it succeed; *rolled back* only when no COMMIT was ever
// sent for it; everything else (a failed request, a COMMIT that errored) is *in
// doubt*: it may or may not be stored, and the checks accept either.

export class Ledger {
  readonly acknowledged = new Set<string>();
  readonly committed = new Set<string>();
  readonly rolledBack = new Set<string>();
  readonly inDoubt = new Set<string>();

  http = { requests: 0, events: 0, acknowledgedRequests: 0, failedRequests: 0, failedEvents: 0 };
  /** Failed HTTP requests by kind: `503 database_unavailable`, `connection ECONNREFUSED`, ... */
  readonly httpFailures = new Map<string, number>();
  /** Responses that break the API's contract (a 201 with other ids, a 4xx for a valid body). */
  readonly contractViolations: string[] = [];

  sql = { transactions: 0, committedTransactions: 0, rolledBackTransactions: 0, savepointRollbacks: 0, longTransactions: 0, failedTransactions: 0, inDoubtCommits: 0 };
  readonly sqlFailures = new Map<string, number>();

  countHttpFailure(kind: string): void {
    this.httpFailures.set(kind, (this.httpFailures.get(kind) ?? 0) + 1);
  }

  countSqlFailure(kind: string): void {
    this.sqlFailures.set(kind, (this.sqlFailures.get(kind) ?? 0) + 1);
  }

  violation(message: string): void {
    if (this.contractViolations.length < 50) this.contractViolations.push(message);
  }
}

/** A short name for an error: its SQLSTATE or errno code, else its message. */
export function errorKind(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const cause = 'cause' in error ? error.cause : undefined;
    const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    if (code) return code;
    if (cause) return errorKind(cause);
    if (error instanceof Error) return error.name === 'Error' ? error.message.slice(0, 80) : error.name;
  }
  return String(error).slice(0, 80);
}
