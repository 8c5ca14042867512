/** A configuration problem, its message written for the operator: what to set, or what to fix. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
