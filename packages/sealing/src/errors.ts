/**
 * A broken chain invariant found while sealing. Sealing of that chain stops and
 * the chain is marked halted; it is reported, never "healed".
 */
export class ChainInvariantError extends Error {
  override name = 'ChainInvariantError';
  readonly orgId: string | null;

  constructor(orgId: string | null, message: string) {
    super(`chain ${orgId ?? 'system'}: ${message}`);
    this.orgId = orgId;
  }
}
