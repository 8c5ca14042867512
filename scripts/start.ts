// npm start: the whole system on one machine. With DATABASE_URL unset it runs
// an embedded PostgreSQL whose data persists in <AUDIT_CHAIN_DATA_DIR>/postgres;
// then it migrates, starts the API and the sealing worker, prints where
// everything is, and on SIGINT/SIGTERM stops them in reverse order.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { isAbsolute, join, relative, resolve } from 'node:path';
import pg from 'pg';
import { buildServer } from '@audit-chain/api';
import { createLogger } from '@audit-chain/logging';
import { loadConfig, writeDevEnvironment, type Config } from '@audit-chain/config';
import { createPool, migrate, startEmbeddedPostgres, withDatabaseName, type EmbeddedServer } from '@audit-chain/db';
import { startWorker } from '@audit-chain/worker';
import { resolveDevSigningKey } from './dev-signing-key.ts';
import { resolveDevTokens } from './dev-tokens.ts';

const DEFAULT_EMBEDDED_PORT = 54329;
const EMBEDDED_DATABASE = 'audit_chain';

/** Things to stop on shutdown, in the reverse order they were started. */
const stops: { name: string; stop: () => Promise<unknown> }[] = [];
let stopping = false;

async function start(): Promise<void> {
  const config = loadConfig();
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });

  const database = config.databaseUrl
    ? { url: config.databaseUrl, description: `${redact(config.databaseUrl)} (DATABASE_URL)`, embedded: false }
    : { ...(await startEmbedded(dataDir)), embedded: true };

  const { applied } = await migrate(database.url, config.roles);
  console.log(applied.length ? `migrated: ${applied.join(', ')}` : 'database schema is up to date');

  const tokens = resolveDevTokens(dataDir, config.api);
  const signing = resolveDevSigningKey(dataDir, config);
  const runConfig: Config = {
    ...config,
    ...signing.config,
    databaseUrl: database.url,
    api: { ...config.api, writeToken: tokens.writeToken, adminToken: tokens.adminToken },
  };

  // For the command line run inside the project: the embedded database's URL
  // (a DATABASE_URL from the environment is not written to disk) and the dev key.
  const devEnvironmentFile = writeDevEnvironment(dataDir, {
    ...(database.embedded ? { DATABASE_URL: database.url } : {}),
    ...(signing.generated ? { AUDIT_CHAIN_SIGNING_KEY_FILE: signing.generated.privateKeyFile, AUDIT_CHAIN_SIGNING_KEY_ID: runConfig.checkpoints.signingKeyId } : {}),
    ...(runConfig.verification.keyringFile ? { AUDIT_CHAIN_KEYRING_FILE: runConfig.verification.keyringFile } : {}),
    AUDIT_CHAIN_CHECKPOINT_DIR: runConfig.checkpoints.dir,
  });

  const pool = createPool(database.url, { applicationName: 'audit-chain api' });
  stops.push({ name: 'database pool', stop: () => pool.end() });
  // One logger for both: human-readable on a terminal, repeated errors summarized.
  const log = createLogger({ level: runConfig.logLevel });
  const app = buildServer({ pool, config: runConfig, loggerInstance: log.child({ name: 'api' }) });
  // stops run in reverse: the worker, then the API (finishing in-flight requests), then the pool.
  stops.push({ name: 'API', stop: () => app.close() });
  const address = await app.listen({ host: runConfig.api.host, port: runConfig.api.port });

  const worker = await startWorker({ databaseUrl: database.url, config: runConfig, logger: log.child({ name: 'worker' }) });
  stops.push({ name: 'sealing worker', stop: () => worker.stop() });

  const tokenSource = (source: 'environment' | 'file') => (source === 'file' ? shown(tokens.file) : 'environment');
  console.log(
    [
      '',
      'audit-chain is running',
      `  API          ${address}`,
      `  database     ${database.description}`,
      `  write token  ${tokens.writeToken}  (${tokenSource(tokens.source.writeToken)})`,
      `  admin token  ${tokens.adminToken}  (${tokenSource(tokens.source.adminToken)})`,
      signing.generated
        ? `  signing key  ${shown(signing.generated.privateKeyFile)}  (dev key${signing.generated.created ? ' generated now' : ''}; keyring ${shown(signing.generated.keyringFile)})`
        : `  signing key  ${runConfig.checkpoints.signingKeyId}  (environment)`,
      `  checkpoints  ${shown(runConfig.checkpoints.dir)}`,
      '',
      `  admin page   ${address}/admin/#token=${tokens.adminToken}`,
      `  metrics      ${address}/metrics  (Authorization: Bearer <admin token>)`,
      `  API docs     ${address}/docs  (OpenAPI: ${address}/openapi.json)`,
      `  CLI          npx audit-chain status  (${cliFinds(database.embedded, Boolean(signing.generated), Boolean(runConfig.verification.keyringFile))} from ${shown(devEnvironmentFile)})`,
      '',
      `  curl -X POST ${address}/v1/audit-events -H 'authorization: Bearer ${tokens.writeToken}' \\`,
      `       -H 'content-type: application/json' -d '{"org_id":null,"actor_type":"user","action":"login"}'`,
      '',
      'Ctrl-C stops it; the data stays.',
      '',
    ].join('\n'),
  );
}

/** What the command line picks up from the dev environment file, for the banner. */
function cliFinds(database: boolean, key: boolean, keyring: boolean): string {
  const found = [database && 'database', key && 'signing key', keyring && 'keyring', 'checkpoint directory'].filter(Boolean);
  return `reads the ${found.slice(0, -1).join(', ')}${found.length > 1 ? ' and ' : ''}${found.at(-1)}`;
}

async function startEmbedded(dataDir: string): Promise<{ url: string; description: string }> {
  const port = embeddedPort();
  const pgDir = join(dataDir, 'postgres');
  await ensurePortFree(port);
  const runtimeDir = process.env.AUDIT_CHAIN_EMBEDDED_RUNTIME_DIR || undefined;
  const server: EmbeddedServer = await startEmbeddedPostgres({ dataDir: pgDir, port, persistent: true, runtimeDir }).catch((error: unknown) => {
    throw new Error(`cannot start the embedded PostgreSQL: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  });
  stops.push({ name: 'embedded PostgreSQL', stop: () => server.stop() });

  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [EMBEDDED_DATABASE]);
    if (exists.rowCount === 0) await admin.query(`create database ${EMBEDDED_DATABASE}`);
  } finally {
    await admin.end();
  }
  const url = withDatabaseName(server.url, EMBEDDED_DATABASE);
  const where = server.dataDir === pgDir ? shown(pgDir) : `${server.dataDir}, as the postgres OS user cannot reach ${pgDir}`;
  return { url, description: `${url} (embedded, data in ${where})` };
}

/** AUDIT_CHAIN_EMBEDDED_PG_PORT, read here because only npm start runs an embedded server. */
function embeddedPort(): number {
  const raw = process.env.AUDIT_CHAIN_EMBEDDED_PG_PORT;
  if (raw === undefined || raw === '') return DEFAULT_EMBEDDED_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`AUDIT_CHAIN_EMBEDDED_PG_PORT must be a port number, got ${JSON.stringify(raw)}`);
  return port;
}

function ensurePortFree(port: number): Promise<void> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`port ${port} is in use (another npm start still running?): stop it, or set AUDIT_CHAIN_EMBEDDED_PG_PORT or DATABASE_URL`)
          : error,
      ),
    );
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolvePort()));
  });
}

/** A path as the banner shows it: relative to the working directory when it lies inside it, else absolute. */
function shown(path: string): string {
  const absolute = resolve(path);
  const inside = relative(process.cwd(), absolute);
  return inside && !inside.startsWith('..') && !isAbsolute(inside) ? inside : absolute;
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

async function stopAll(): Promise<boolean> {
  let clean = true;
  for (const { name, stop } of stops.splice(0).reverse()) {
    try {
      await stop();
    } catch (error) {
      clean = false;
      console.error(`audit-chain: stopping the ${name} failed: ${message(error)}`);
    }
  }
  return clean;
}

function message(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return `${error.message} (set PORT to use another port)`;
  return error.message || error.name;
}

const SHUTDOWN_DEADLINE_MS = 15_000;
/** npm forwards the Ctrl-C this process already got from the terminal: a repeat this soon is the same request. */
const DUPLICATE_SIGNAL_MS = 1_000;
let firstSignalAt = 0;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) {
      if (Date.now() - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
      // Asked again: stop waiting. The embedded server's exit handler still signals postgres.
      console.error('audit-chain: stopping without waiting');
      process.exit(1);
    }
    stopping = true;
    firstSignalAt = Date.now();
    console.log(`\n${signal}: stopping`);
    setTimeout(() => {
      console.error(`audit-chain: shutdown took more than ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    stopAll().then((clean) => process.exit(clean ? 0 : 1));
  });
}

try {
  await start();
} catch (error) {
  console.error(`audit-chain: ${message(error)}`);
  if (process.env.AUDIT_CHAIN_DEBUG === '1') console.error(error);
  await stopAll();
  process.exit(1);
}
