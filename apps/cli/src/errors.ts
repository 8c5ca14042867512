// Turns any error a command throws into the one line an operator reads:
// connection failures say where and why, database errors carry their SQLSTATE,
// configuration errors say what to set, a missing schema says to migrate.
import { isSchemaMissing, RUN_MIGRATE } from '@audit-chain/db';

/** An error whose message is already written for the operator; the process exits with `exitCode` (default 1). */
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Any error, given a specific exit status (e.g. 2: "could not run"); it is described as the wrapped error. */
export class ExitCodeError extends Error {
  override name = 'ExitCodeError';
  readonly exitCode: number;
  constructor(exitCode: number, cause: unknown) {
    super(describeError(cause), { cause });
    this.exitCode = exitCode;
  }
}

/** The exit status for an error a command threw. */
export function exitCodeOf(error: unknown): number {
  return error instanceof CliError || error instanceof ExitCodeError ? error.exitCode : 1;
}

interface NetError extends Error {
  code?: string;
  address?: string;
  port?: number;
  hostname?: string;
  errors?: unknown[];
}

const NET_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EACCES: 'permission denied',
  ENOENT: 'no such socket',
};

export function describeError(error: unknown): string {
  return oneLine(describe(error));
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof ExitCodeError) return error.message;
  if (error.name === 'ConfigError' || error.name === 'CitusUnsupportedError' || error instanceof CliError) return error.message;

  const net = describeNetError(error as NetError);
  if (net) return net;

  const code = (error as NetError).code;
  if (typeof code === 'string' && code.length === 5 && 'severity' in error) {
    return `${error.message} (SQLSTATE ${code})${isSchemaMissing(error) ? `: ${RUN_MIGRATE}` : ''}`;
  }
  if (/Connection terminated/i.test(error.message)) return 'lost the connection to the database';
  if (/timeout expired/i.test(error.message)) return 'cannot connect to the database: timed out';

  // Drivers and drizzle wrap the real cause ("Failed query: ...").
  if (error.cause instanceof Error) return describe(error.cause);
  return `${error.message || error.name} (set AUDIT_CHAIN_DEBUG=1 for the stack trace)`;
}

function describeNetError(error: NetError): string | undefined {
  // With several addresses for a host (localhost: ::1 and 127.0.0.1), Node reports an AggregateError.
  const attempts = (error.errors?.length ? error.errors : [error]).filter((e): e is NetError => e instanceof Error);
  const first = attempts[0];
  if (!first?.code) return undefined;
  if (first.code === 'ENOTFOUND' || first.code === 'EAI_AGAIN') {
    return `cannot connect to ${first.hostname ?? 'the database host'}: host not found`;
  }
  const reason = NET_REASONS[first.code];
  if (!reason) return undefined;
  const targets = [...new Set(attempts.filter((e) => e.address).map((e) => formatAddress(e.address!, e.port)))];
  return `cannot connect to ${targets.length ? targets.join(' or ') : 'the database'}: ${reason}`;
}

function formatAddress(address: string, port: number | undefined): string {
  const host = address.includes(':') && !address.startsWith('/') ? `[${address}]` : address;
  return port === undefined ? host : `${host}:${port}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
