// What a reader needs to repeat or discount a figure: the machine, the server
// and its settings that bear on write throughput, and when the run happened.
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { withServer } from './scratch-database.ts';

export interface BenchEnvironment {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  serverVersion: string;
  /** Settings that change write throughput: fsync, synchronous_commit, shared_buffers, ... */
  settings: Record<string, string>;
  startedAt: Date;
}

const SETTINGS = [
  'shared_buffers',
  'synchronous_commit',
  'fsync',
  'wal_level',
  'full_page_writes',
  'max_wal_size',
  'checkpoint_timeout',
  'autovacuum',
  'max_connections',
];

export async function readEnvironment(serverUrl: string): Promise<BenchEnvironment> {
  return withServer(serverUrl, async (client) => {
    const version = await client.query<{ server_version: string }>('SHOW server_version');
    const settings = await client.query<{ name: string; value: string }>(
      'SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY($1) ORDER BY name',
      [SETTINGS],
    );
    return {
      cpus: availableParallelism(),
      cpuModel: cpuModel(),
      memoryGiB: totalmem() / 1024 ** 3,
      serverVersion: version.rows[0]?.server_version ?? 'unknown',
      settings: Object.fromEntries(settings.rows.map((row) => [row.name, row.value])),
      startedAt: new Date(),
    };
  });
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return match?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The one-minute load average, sampled around runs to show how busy the machine was. */
export function loadAverage(): number {
  return loadavg()[0] ?? 0;
}

export function environmentMarkdown(environment: BenchEnvironment, command: string): string {
  const settings = Object.entries(environment.settings)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
  return [
    `- Machine: ${environment.cpus} CPUs (${environment.cpuModel}), ${environment.memoryGiB.toFixed(1)} GiB memory`,
    `- PostgreSQL ${environment.serverVersion} (${settings})`,
    `- Date: ${environment.startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- Command: \`${command}\``,
  ].join('\n');
}
