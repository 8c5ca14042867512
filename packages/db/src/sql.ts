// Building blocks shared by every package that writes SQL as pure functions
// returning { text, values }.

export interface Query {
  text: string;
  values: unknown[];
}

/**
 * `column = $n` (pushing orgId onto values) or `column is null` for the system
 * chain. Never IS NOT DISTINCT FROM: with either form an (org_id, ...) index can
 * serve the system chain too.
 */
export function orgMatch(column: string, orgId: string | null, values: unknown[]): string {
  if (orgId === null) return `${column} is null`;
  values.push(orgId);
  return `${column} = $${values.length}::uuid`;
}
