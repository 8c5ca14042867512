// Commands of the deployment test: run one, keep everything it printed in the
// run's log file, and fail with one line naming the command when it fails.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export class Shell {
  private readonly logFile: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(logFile: string, env: NodeJS.ProcessEnv) {
    this.logFile = logFile;
    this.env = env;
  }

  log(line: string): void {
    appendFileSync(this.logFile, `${line}\n`);
  }

  /** Runs a command; rejects when it exits non-zero unless `allowFailure`. `input` is written to its stdin. */
  async run(command: string, args: readonly string[], options: { allowFailure?: boolean; input?: string | Buffer; cwd?: string; timeoutMs?: number } = {}): Promise<Result> {
    const shown = [command, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
    this.log(`$ ${shown}`);
    const child = spawn(command, args, { env: this.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      appendFileSync(this.logFile, chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      appendFileSync(this.logFile, chunk);
    });
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
    });
    if (timer) clearTimeout(timer);
    const result = { code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
    if (code !== 0 && !options.allowFailure) {
      const last = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' | ');
      throw new Error(`${shown} exited ${code}: ${last}`);
    }
    return result;
  }
}
