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
 * The connection URL with `-c search_path=audit_chain,public` added to its
 * startup options (unless the URL sets a search_path itself).
 */
export function withChainSearchPath(url: string): string {
  const existing = new URL(url).searchParams.get('options') ?? '';
  if (/search_path=/.test(existing)) return url;
  return withSessionSetting(url, 'search_path', CHAIN_SEARCH_PATH);
}

/**
 * The connection URL with `-c name=value` appended to its startup `options`
 * (after any options it already carries, which pg would otherwise let override
 * a separately given `options`). `value` must not contain spaces.
 */
export function withSessionSetting(url: string, name: string, value: string): string {
  const parsed = new URL(url);
  const existing = parsed.searchParams.get('options') ?? '';
  parsed.searchParams.set('options', `${existing} -c ${name}=${value}`.trim());
  // URLSearchParams writes a space as '+', which libpq (psql) does not read back as one.
  parsed.search = parsed.search.replace(/\+/g, '%20');
  return parsed.toString();
}
