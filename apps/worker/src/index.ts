// Entry of the sealing worker deployment: config → logger → worker, and a clean stop on SIGTERM/SIGINT.
import { createLogger } from '@audit-chain/logging';
import { loadConfig, requireDatabaseUrl } from '@audit-chain/config';
import { StoppedBeforeStartError, startWorker } from './worker.ts';

const config = loadConfig();
const logger = createLogger({ name: 'audit-chain-worker', level: config.logLevel });
const stopSignal = new AbortController();
let worker: Awaited<ReturnType<typeof startWorker>> | undefined;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    stopSignal.abort();
    // Still waiting for the database: startWorker rejects and the code below exits.
    if (!worker) return;
    worker.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

try {
  worker = await startWorker({ databaseUrl: requireDatabaseUrl(config), config, logger, signal: stopSignal.signal });
} catch (error) {
  if (!(error instanceof StoppedBeforeStartError)) throw error;
  process.exit(0);
}
