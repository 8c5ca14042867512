// The sealing worker as the benchmarks run it: the configuration of a
// deployment, with NODE_OPTIONS as docker/Dockerfile.worker sets it.
export const WORKER_ENV = {
  AUDIT_CHAIN_SEAL_BATCH_SIZE: '5000',
  AUDIT_CHAIN_SEAL_CONCURRENCY: '4',
  AUDIT_CHAIN_SEAL_POLL_MS: '100',
  LOG_LEVEL: 'warn',
  NODE_OPTIONS: '--max-old-space-size=160 --max-semi-space-size=8',
} as const;

/** The settings a reader needs to repeat a figure, as `NAME=value, ...`. */
export function workerSettings(): string {
  return Object.entries(WORKER_ENV)
    .filter(([name]) => name.startsWith('AUDIT') || name === 'NODE_OPTIONS')
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
}
