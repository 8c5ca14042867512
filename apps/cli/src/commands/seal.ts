// audit-chain seal --once: seals everything that is safe to seal now, prints
// what it did, and exits. Safe beside running workers (sealing is exclusive per
// chain in the database).
import { InvalidArgumentError } from 'commander';
import { createPool } from '@audit-chain/db';
import { chainKey, sealAttachedTables, sealOnce } from '@audit-chain/sealing';
import type { RegisterCommand } from '../context.ts';

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
}

export const registerSeal: RegisterCommand = (program, context) => {
  program
    .command('seal')
    .description('seal pending rows up to the safe horizon (use `audit-chain worker` to seal continuously)')
    .requiredOption('--once', 'seal what is safe now, then exit')
    .option('--wait-ms <ms>', 'how long to wait for open audit writers to finish first', positiveInt, 5000)
    .option('--batch-size <rows>', 'rows per sealing transaction', positiveInt)
    .addHelpText(
      'after',
      `
Exit status: 0 when every chain sealed cleanly (rows held back by open
transactions stay pending and are listed), 1 when a chain's invariant is broken
(that chain is halted and reported) or the command could not run.`,
    )
    .action(async (options: { waitMs: number; batchSize?: number }) => {
      // AUDIT_CHAIN_SEAL_CONCURRENCY chains at once, as the worker; each holds a connection for its
      // transaction and one for reading its next batch ahead.
      const concurrency = context.config().sealing.concurrency;
      const pool = createPool(context.databaseUrl(), { applicationName: 'audit-chain seal', max: concurrency * 2 + 1 });
      try {
        const result = await sealOnce(pool, {
          concurrency,
          batchSize: options.batchSize ?? context.config().sealing.batchSize,
          waitMs: options.waitMs,
          pollMs: 50,
          onChain: (chain) => {
            if (chain.sealed > 0) context.out(`sealed ${chain.sealed} rows of chain ${chainKey(chain.orgId)} (watermark ${chain.watermark})`);
            else if (chain.status === 'busy') context.out(`chain ${chainKey(chain.orgId)} is being sealed by another process`);
            else if (chain.status === 'halted') context.warn(`chain ${chainKey(chain.orgId)} is halted: see \`audit-chain lag\``);
          },
        });
        context.out(`sealed ${result.sealed} rows in ${result.chains.filter((chain) => chain.sealed > 0).length} chains; safe horizon ${result.horizon}, head ${result.head}`);
        for (const holder of result.holders) {
          const since = holder.xactStart ? `${Math.round((Date.now() - holder.xactStart.getTime()) / 1000)}s` : 'unknown time';
          context.out(
            `held back by pid ${holder.pid ?? 'prepared'} (${holder.applicationName || 'no application name'}, ${holder.state ?? 'prepared'}, open ${since})`,
          );
        }
        // Attached tables (audit-chain attach): each chain named by its table and chain key.
        const attached = await sealAttachedTables(pool, { batchSize: options.batchSize ?? context.config().sealing.batchSize, waitMs: options.waitMs });
        for (const table of attached) {
          for (const chain of table.chains) context.out(`sealed ${chain.sealed} rows of ${chain.label} (watermark ${chain.watermark})`);
          if (table.message) context.warn(table.message);
        }
        for (const error of result.broken) context.warn(`broken invariant, chain halted: ${error.message}`);
        if (result.broken.length > 0) throw new Error(`${result.broken.length} chain(s) halted on a broken invariant`);
        const drifted = attached.filter((table) => table.status === 'drifted');
        if (drifted.length > 0) throw new Error(`${drifted.length} attached table(s) not sealed: their columns changed (see above)`);
        const unsupported = attached.filter((table) => table.status === 'unsupported');
        if (unsupported.length > 0) throw new Error(`${unsupported.length} attached table(s) not sealed: distributed by Citus (see above)`);
      } finally {
        await pool.end();
      }
    });
};
