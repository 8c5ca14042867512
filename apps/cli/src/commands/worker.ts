// audit-chain worker: runs the sealing worker in the foreground until SIGINT or SIGTERM.
import { createLogger } from '@audit-chain/logging';
import { StoppedBeforeStartError, startWorker } from '@audit-chain/worker';
import type { RegisterCommand } from '../context.ts';
import { earlyStop } from '../early-stop.ts';

export const registerWorker: RegisterCommand = (program, context) => {
  program
    .command('worker')
    .description('run the sealing worker in the foreground (stops cleanly on SIGINT/SIGTERM)')
    .addHelpText('after', '\nLogs JSON lines (pino) to stdout, human-readable lines on a terminal; repeated warnings and errors are summarized; AUDIT_CHAIN_SEAL_* variables tune it (see README.md).')
    .action(async () => {
      // Stopped while the command was still loading (bin/audit-chain.ts): nothing has started, nothing to stop.
      if (earlyStop.aborted) return;
      const config = context.config();
      const logger = createLogger({ name: 'audit-chain-worker', level: config.logLevel });
      // Listening before the start: a worker still waiting for an unreachable
      // database stops cleanly too.
      const stopSignal = new AbortController();
      const stopped = new Promise<void>((resolve) => {
        const stop = () => {
          stopSignal.abort();
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      let worker;
      try {
        worker = await startWorker({ databaseUrl: context.databaseUrl(), config, logger, signal: stopSignal.signal });
      } catch (error) {
        if (error instanceof StoppedBeforeStartError) return;
        throw error;
      }
      await stopped;
      await worker.stop();
    });
};
