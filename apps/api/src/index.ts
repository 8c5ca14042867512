// Entry point: configuration -> pool -> server -> listen, and a clean shutdown
// (stop accepting, finish in-flight requests, then close the pool).
import { loadConfig, requireDatabaseUrl } from '@audit-chain/config';
import { createPool } from '@audit-chain/db';
import { buildServer } from './server.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const pool = createPool(requireDatabaseUrl(config), { applicationName: 'audit-chain api' });
  const app = buildServer({ pool, config });

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1); // a second signal: stop waiting
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    await app.close();
    await pool.end();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    stop(signal).catch((error: unknown) => {
      console.error(`audit-chain api: shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const address = await app.listen({ host: config.api.host, port: config.api.port });
  console.log(`audit-chain api listening on ${address}`);
}

main().catch((error: unknown) => {
  console.error(`audit-chain api: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
