// Everything audit-chain creates lives in one schema of its own, so no name of a
// product's (its own `audit_logs`, a function `audit_log_verify_chain(uuid)`,
// drizzle's migration journal) can collide with ours. Our connections find our
// objects through their search_path, set at connection start; a product's tables
// are always named with their schema.

/** The schema that holds every table, view, sequence and function of audit-chain. */
export const CHAIN_SCHEMA = 'audit_chain';

/**
 * The search_path of every audit-chain connection: our schema first, so our
 * unqualified names always mean our objects (a product's public.audit_logs is
 * never seen by our queries), then public, so an operator's unqualified table
 * name (`attach --table audit_log`) means what it means in psql.
 */
export const CHAIN_SEARCH_PATH = `${CHAIN_SCHEMA},public`;

/**
 * The connection URL with `-c search_path=audit_chain` added to its startup
 * `options` (kept after any options the URL already carries, which pg would
 * otherwise let override a separately given `options`).
 */
export function withChainSearchPath(url: string): string {
  const parsed = new URL(url);
  const existing = parsed.searchParams.get('options') ?? '';
  if (/search_path=/.test(existing)) return url;
  parsed.searchParams.set('options', `${existing} -c search_path=${CHAIN_SEARCH_PATH}`.trim());
  // URLSearchParams writes a space as '+', which libpq (psql) does not read back as one.
  parsed.search = parsed.search.replace(/\+/g, '%20');
  return parsed.toString();
}
