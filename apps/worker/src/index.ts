// Entry of the sealing worker deployment: config → logger → worker, and a clean stop on SIGTERM/SIGINT.
import { createLogger } from '@audit-chain/logging';
import { loadConfig, requireDatabaseUrl } from '@audit-chain/config';
import { startWorker } from './worker.ts';

const config = loadConfig();
const logger = createLogger({ name: 'audit-chain-worker', level: config.logLevel });
const worker = await startWorker({ databaseUrl: requireDatabaseUrl(config), config, logger });

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    worker.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
