// The system under test as real child processes: the API and the sealing worker
// replicas. A crash or a PostgreSQL restart in them cannot take the soak driver
// down, and the driver can SIGKILL them like an orchestrator would. Every exit
// the driver did not ask for is recorded: a process that dies by itself is a
// finding.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const API_ENTRY = fileURLToPath(new URL('../../apps/api/src/index.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const OUTPUT_TAIL_CHARS = 16_000;

export interface ManagedProcess {
  name: string;
  pid: number;
  startedAt: number;
  alive(): boolean;
  /** The last lines the process wrote, for failure messages. */
  output(): string;
  /** Sends `signal` and waits for the exit; after `timeoutMs` sends SIGKILL and reports a timeout. */
  stop(signal: NodeJS.Signals, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>;
}

export interface UnexpectedExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Every child the soak started; killed with SIGKILL if the driver itself exits. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function startProcess(name: string, args: string[], env: Record<string, string>, onUnexpectedExit: (exit: UnexpectedExit) => void): ManagedProcess {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let expected = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      if (!expected) onUnexpectedExit({ name, code, signal, output });
      resolve({ code, signal });
    }),
  );
  return {
    name,
    pid: child.pid ?? -1,
    startedAt: Date.now(),
    alive: () => child.exitCode === null && child.signalCode === null,
    output: () => output,
    async stop(signal, timeoutMs) {
      expected = true;
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      const result = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (result !== 'timeout') return { ...result, timedOut: false };
      child.kill('SIGKILL');
      return { ...(await exited), timedOut: true };
    },
  };
}

export interface ApiProcess extends ManagedProcess {
  baseUrl: string;
}

export async function startApi(databaseUrl: string, token: string, onUnexpectedExit: (exit: UnexpectedExit) => void): Promise<ApiProcess> {
  const port = await freePort();
  const child = startProcess(
    'api',
    [API_ENTRY],
    { HOST: '127.0.0.1', PORT: String(port), DATABASE_URL: databaseUrl, AUDIT_CHAIN_API_TOKEN: token, LOG_LEVEL: 'warn' },
    onUnexpectedExit,
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (!(await ready(baseUrl))) {
    if (!child.alive()) throw new Error(`the API exited while starting:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`the API did not answer /readyz within 30 s:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { ...child, baseUrl };
}

export interface WorkerTuning {
  pollMs: number;
  batchSize: number;
  concurrency: number;
}

export function startWorkerProcess(name: string, databaseUrl: string, tuning: WorkerTuning, onUnexpectedExit: (exit: UnexpectedExit) => void): ManagedProcess {
  return startProcess(
    name,
    [CLI, 'worker'],
    {
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'warn',
      AUDIT_CHAIN_SEAL_POLL_MS: String(tuning.pollMs),
      AUDIT_CHAIN_SEAL_BATCH_SIZE: String(tuning.batchSize),
      AUDIT_CHAIN_SEAL_CONCURRENCY: String(tuning.concurrency),
    },
    onUnexpectedExit,
  );
}

export async function ready(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(3000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}
