// The one place that maps SQLSTATE codes raised on purpose by the migrations
// (and the standard codes the code relies on) to named application errors.

export const SqlState = {
  appendOnlyUpdate: 'AC001',
  appendOnlyDelete: 'AC002',
  appendOnlyTruncate: 'AC003',
  /** A delete outside a checkpointed retention cut. */
  retentionRefused: 'AC010',
  /** A change to a row that is not exactly an erasure of its personal fields by the redactor. */
  erasureRefused: 'AC011',
  /** A partition operation that would break the chain (drop/detach outside retention). */
  partitioningRefused: 'AC012',
  uniqueViolation: '23505',
  checkViolation: '23514',
  notNullViolation: '23502',
  invalidTextRepresentation: '22P02',
  insufficientPrivilege: '42501',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  adminShutdown: '57P01',
  cannotConnectNow: '57P03',
  undefinedTable: '42P01',
  undefinedFunction: '42883',
} as const;

export type ErrorKind =
  | 'append_only'
  | 'conflict'
  | 'invalid_input'
  | 'permission_denied'
  | 'transient'
  | 'unknown';

/** The SQLSTATE of a pg error, if `error` is one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code.length === 5 ? error.code : undefined;
  }
  return undefined;
}

export function classifyDatabaseError(error: unknown): ErrorKind {
  const code = sqlState(error);
  if (code === undefined) return isConnectionError(error) ? 'transient' : 'unknown';
  if (code.startsWith('AC')) return 'append_only';
  if (code === SqlState.uniqueViolation) return 'conflict';
  if (code.startsWith('22') || code === SqlState.checkViolation || code === SqlState.notNullViolation) return 'invalid_input';
  if (code === SqlState.insufficientPrivilege) return 'permission_denied';
  if (code.startsWith('08') || code.startsWith('57') || code.startsWith('53') || code === SqlState.serializationFailure || code === SqlState.deadlockDetected) {
    return 'transient';
  }
  return 'unknown';
}

/**
 * A table, view or function of the schema is missing: the database was never
 * migrated, or by an older version. Every object the migrations create is named
 * audit_*, so an unrelated missing relation is not mistaken for this.
 */
export function isSchemaMissing(error: unknown): boolean {
  const code = sqlState(error);
  if (code !== SqlState.undefinedTable && code !== SqlState.undefinedFunction) return false;
  return /\baudit_/.test((error as Error).message ?? '');
}

/** What to do about a missing schema, for messages. */
export const RUN_MIGRATE = 'the database is not migrated (or by an older version): run `audit-chain migrate` (npm run db:migrate)';

function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(error.message)
  );
}
