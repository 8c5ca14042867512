// Configuration from the environment, parsed once with clear errors. Every
// variable is documented in the README's configuration table; keep them in step.
import { z } from 'zod';

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value === '' ? undefined : value));

const schema = z.object({
  DATABASE_URL: optionalText,
  HOST: z.string().default('127.0.0.1'),
  PORT: int(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  AUDIT_CHAIN_API_TOKEN: optionalText,
  AUDIT_CHAIN_ADMIN_TOKEN: optionalText,
  AUDIT_CHAIN_BODY_LIMIT_BYTES: int(1_048_576, 1024),
  AUDIT_CHAIN_MAX_BATCH: int(1000, 1),
  AUDIT_CHAIN_METRICS_TOP_N: int(20, 0),
  AUDIT_CHAIN_SEAL_POLL_MS: int(200, 10),
  AUDIT_CHAIN_SEAL_BATCH_SIZE: int(5000, 1),
  AUDIT_CHAIN_SEAL_CONCURRENCY: int(4, 1),
  AUDIT_CHAIN_WRITER_ROLE: optionalText,
  AUDIT_CHAIN_SEALER_ROLE: optionalText,
  AUDIT_CHAIN_ADMIN_ROLE: optionalText,
  AUDIT_CHAIN_DATA_DIR: z.string().default('.data'),
});

export type Env = z.infer<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Config {
  databaseUrl: string | undefined;
  api: {
    host: string;
    port: number;
    writeToken: string | undefined;
    adminToken: string | undefined;
    bodyLimitBytes: number;
    maxBatch: number;
    /** Organizations with their own series in /metrics: the worst N by pending rows (totals always). */
    metricsTopN: number;
  };
  sealing: {
    pollMs: number;
    batchSize: number;
    concurrency: number;
  };
  roles: { writer?: string; sealer?: string; admin?: string };
  logLevel: Env['LOG_LEVEL'];
  dataDir: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`invalid configuration: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    api: {
      host: e.HOST,
      port: e.PORT,
      writeToken: e.AUDIT_CHAIN_API_TOKEN,
      adminToken: e.AUDIT_CHAIN_ADMIN_TOKEN,
      bodyLimitBytes: e.AUDIT_CHAIN_BODY_LIMIT_BYTES,
      maxBatch: e.AUDIT_CHAIN_MAX_BATCH,
      metricsTopN: e.AUDIT_CHAIN_METRICS_TOP_N,
    },
    sealing: {
      pollMs: e.AUDIT_CHAIN_SEAL_POLL_MS,
      batchSize: e.AUDIT_CHAIN_SEAL_BATCH_SIZE,
      concurrency: e.AUDIT_CHAIN_SEAL_CONCURRENCY,
    },
    roles: {
      ...(e.AUDIT_CHAIN_WRITER_ROLE ? { writer: e.AUDIT_CHAIN_WRITER_ROLE } : {}),
      ...(e.AUDIT_CHAIN_SEALER_ROLE ? { sealer: e.AUDIT_CHAIN_SEALER_ROLE } : {}),
      ...(e.AUDIT_CHAIN_ADMIN_ROLE ? { admin: e.AUDIT_CHAIN_ADMIN_ROLE } : {}),
    },
    logLevel: e.LOG_LEVEL,
    dataDir: e.AUDIT_CHAIN_DATA_DIR,
  };
}

/** The database URL, or a ConfigError that says how to give one. */
export function requireDatabaseUrl(config: Config): string {
  if (!config.databaseUrl) throw new ConfigError('DATABASE_URL is not set (e.g. postgres://user@host:5432/db)');
  return config.databaseUrl;
}
