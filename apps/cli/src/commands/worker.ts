// audit-chain worker: runs the sealing worker in the foreground until SIGINT or SIGTERM.
import { createLogger } from '@audit-chain/logging';
import { startWorker } from '@audit-chain/worker';
import type { RegisterCommand } from '../context.ts';

export const registerWorker: RegisterCommand = (program, context) => {
  program
    .command('worker')
    .description('run the sealing worker in the foreground (stops cleanly on SIGINT/SIGTERM)')
    .addHelpText('after', '\nLogs JSON lines (pino) to stdout, human-readable lines on a terminal; repeated warnings and errors are summarized; AUDIT_CHAIN_SEAL_* variables tune it (see README.md).')
    .action(async () => {
      const config = context.config();
      const logger = createLogger({ name: 'audit-chain-worker', level: config.logLevel });
      const worker = await startWorker({ databaseUrl: context.databaseUrl(), config, logger });
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await worker.stop();
    });
};
