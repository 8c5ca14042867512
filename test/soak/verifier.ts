// The project's own verifier (`audit-chain verify --all --json`: exit 0 clean,
// 1 breaks, 2 could not run), when the command exists in this tree. Until it
// lands the soak relies on the independent walk in test/support/chain-check.ts.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const VERIFY_COMMAND = fileURLToPath(new URL('../../apps/cli/src/commands/verify.ts', import.meta.url));
const TIMEOUT_MS = 120_000;

export interface VerifierResult {
  exitCode: number | null;
  /** `break_count` of the JSON report; at least 1 when the exit status says breaks but the report could not be read. */
  breaks: number;
  /** The report's totals: rows checked (sealed) and left unchecked (pending), and chains. */
  totals: { sealed: number; pending: number; chains: number } | undefined;
  /** Exit 0 or 1 with a readable report: the verifier ran. */
  ran: boolean;
  output: string;
}

export function verifierAvailable(): boolean {
  return existsSync(VERIFY_COMMAND);
}

export async function runVerifier(databaseUrl: string): Promise<VerifierResult | undefined> {
  if (!verifierAvailable()) return undefined;
  const child = spawn(process.execPath, [CLI, 'verify', '--all', '--json'], {
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  clearTimeout(timer);
  const report = parseReport(stdout);
  const breaks = report?.break_count ?? (exitCode === 0 ? 0 : 1);
  return {
    exitCode,
    breaks: exitCode === 1 ? Math.max(1, breaks) : breaks,
    totals: report?.totals,
    ran: (exitCode === 0 || exitCode === 1) && report !== undefined,
    output: `${stdout.slice(0, 4000)}${stderr.slice(-2000)}`,
  };
}

interface VerifyReport {
  ok: boolean;
  break_count: number;
  totals: { sealed: number; pending: number; chains: number };
}

function parseReport(stdout: string): VerifyReport | undefined {
  try {
    const report = JSON.parse(stdout) as Partial<VerifyReport>;
    if (typeof report.break_count !== 'number' || typeof report.totals?.sealed !== 'number') return undefined;
    return report as VerifyReport;
  } catch {
    return undefined;
  }
}
