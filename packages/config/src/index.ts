// Configuration from the environment, parsed once with clear errors. Every
// variable is documented in the README's configuration table; keep them in step.
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.ts';

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value === '' ? undefined : value));

/** libpq also takes key=value strings; node-postgres reads only URLs, so anything else is refused here, by name. */
const databaseUrl = optionalText.refine((value) => value === undefined || isPostgresUrl(value), {
  message: 'is not a PostgreSQL URL: want postgres://user:password@host:5432/database',
});

function isPostgresUrl(value: string): boolean {
  if (!/^postgres(ql)?:\/\//i.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

const schema = z.object({
  DATABASE_URL: databaseUrl,
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
  AUDIT_CHAIN_RETENTION_ROLE: optionalText,
  AUDIT_CHAIN_REDACTOR_ROLE: optionalText,
  AUDIT_CHAIN_SIGNER_ROLE: optionalText,
  AUDIT_CHAIN_DATA_DIR: z.string().default('.data'),
  AUDIT_CHAIN_SIGNING_KEY_FILE: optionalText,
  AUDIT_CHAIN_SIGNING_KEY: optionalText,
  AUDIT_CHAIN_SIGNING_KEY_ID: optionalText,
  AUDIT_CHAIN_CHECKPOINT_INTERVAL_SECONDS: int(300, 1),
  AUDIT_CHAIN_CHECKPOINT_EVERY_ROWS: int(10_000, 1),
  AUDIT_CHAIN_CHECKPOINT_DIR: optionalText,
  AUDIT_CHAIN_CHECKPOINT_WEBHOOK_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  AUDIT_CHAIN_CHECKPOINT_WEBHOOK_TOKEN: optionalText,
  AUDIT_CHAIN_KEYRING_FILE: optionalText,
  AUDIT_CHAIN_VERIFY_CRON: z.string().trim().min(1).default('0 3 * * *'),
});

export type Env = z.infer<typeof schema>;

export { ConfigError };

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
  roles: { writer?: string; sealer?: string; admin?: string; retention?: string; redactor?: string };
  logLevel: Env['LOG_LEVEL'];
  dataDir: string;
  checkpoints: {
    /** Private Ed25519 key (PKCS#8 PEM): a file, or the PEM text itself. At most one is set; never stored in the database. */
    signingKeyFile: string | undefined;
    signingKeyPem: string | undefined;
    /** Set exactly when a key is. */
    signingKeyId: string | undefined;
    intervalSeconds: number;
    everyRows: number;
    /** The directory sink: append-only JSON lines, one file per UTC day. */
    dir: string;
    webhookUrl: string | undefined;
    webhookToken: string | undefined;
  };
  verification: {
    /** JSON keyring of public keys with validity windows; unset: checkpoints are not checked. */
    keyringFile: string | undefined;
    /** Cron expression (UTC) of the scheduled verification, or undefined when it is 'off'. */
    cron: string | undefined;
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`invalid configuration: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const e = parsed.data;
  if (e.AUDIT_CHAIN_SIGNING_KEY_FILE && e.AUDIT_CHAIN_SIGNING_KEY) {
    throw new ConfigError('invalid configuration: set AUDIT_CHAIN_SIGNING_KEY_FILE or AUDIT_CHAIN_SIGNING_KEY, not both');
  }
  const hasKey = Boolean(e.AUDIT_CHAIN_SIGNING_KEY_FILE || e.AUDIT_CHAIN_SIGNING_KEY);
  if (hasKey !== Boolean(e.AUDIT_CHAIN_SIGNING_KEY_ID)) {
    throw new ConfigError(
      hasKey
        ? 'invalid configuration: AUDIT_CHAIN_SIGNING_KEY_ID is not set, want the key id that checkpoints signed with this key carry'
        : 'invalid configuration: AUDIT_CHAIN_SIGNING_KEY_ID is set without a key, want AUDIT_CHAIN_SIGNING_KEY_FILE or AUDIT_CHAIN_SIGNING_KEY too',
    );
  }
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
      ...(e.AUDIT_CHAIN_RETENTION_ROLE ? { retention: e.AUDIT_CHAIN_RETENTION_ROLE } : {}),
      ...(e.AUDIT_CHAIN_REDACTOR_ROLE ? { redactor: e.AUDIT_CHAIN_REDACTOR_ROLE } : {}),
      ...(e.AUDIT_CHAIN_SIGNER_ROLE ? { signer: e.AUDIT_CHAIN_SIGNER_ROLE } : {}),
    },
    logLevel: e.LOG_LEVEL,
    dataDir: e.AUDIT_CHAIN_DATA_DIR,
    checkpoints: {
      signingKeyFile: e.AUDIT_CHAIN_SIGNING_KEY_FILE,
      // Environments often carry a PEM on one line with literal \n.
      signingKeyPem: e.AUDIT_CHAIN_SIGNING_KEY?.replace(/\\n/g, '\n'),
      signingKeyId: e.AUDIT_CHAIN_SIGNING_KEY_ID,
      intervalSeconds: e.AUDIT_CHAIN_CHECKPOINT_INTERVAL_SECONDS,
      everyRows: e.AUDIT_CHAIN_CHECKPOINT_EVERY_ROWS,
      dir: e.AUDIT_CHAIN_CHECKPOINT_DIR ?? join(e.AUDIT_CHAIN_DATA_DIR, 'checkpoints'),
      webhookUrl: e.AUDIT_CHAIN_CHECKPOINT_WEBHOOK_URL,
      webhookToken: e.AUDIT_CHAIN_CHECKPOINT_WEBHOOK_TOKEN,
    },
    verification: {
      keyringFile: e.AUDIT_CHAIN_KEYRING_FILE,
      cron: e.AUDIT_CHAIN_VERIFY_CRON.toLowerCase() === 'off' ? undefined : e.AUDIT_CHAIN_VERIFY_CRON,
    },
  };
}

/** The database URL, or a ConfigError that says how to give one. */
export function requireDatabaseUrl(config: Config): string {
  if (!config.databaseUrl) throw new ConfigError('DATABASE_URL is not set (e.g. postgres://user@host:5432/db)');
  return config.databaseUrl;
}

export { applyDevEnvironment, describeDevEnvironment, writeDevEnvironment, DEV_ENVIRONMENT_FILE, type AppliedDevEnvironment, type DevEnvironment } from './dev-environment.ts';
