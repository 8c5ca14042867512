// audit-chain status: one screen on the chains' health: horizon and who holds
// it, every chained table (its horizon, pending and held rows, drift), pending
// rows and the oldest, throughput, seal latency, workers, the last checkpoint
// and verification, halted chains. --json prints what GET /admin/v1/status
// returns.
import { createPool } from '@audit-chain/db';
import { getLagStatus, renderStatus } from '@audit-chain/lag';
import type { RegisterCommand } from '../context.ts';
import { earlierReading, print, seconds } from './lag.ts';

export const registerStatus: RegisterCommand = (program, context) => {
  program
    .command('status')
    .description('one-screen summary: horizon, pending rows, workers, last checkpoint and verification, halted chains')
    .option('--json', 'print the JSON the admin API serves (GET /admin/v1/status)')
    .option('--window <seconds>', 'measure throughput over this many seconds first (0: none)', seconds, 1)
    .action(async (options: { json?: boolean; window: number }) => {
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain status', max: 2 });
      try {
        const previous = await earlierReading(pool, options.window);
        const status = await getLagStatus(pool, { previous });
        print(context, options.json, status, renderStatus(status));
      } finally {
        await pool.end();
      }
    });
};
