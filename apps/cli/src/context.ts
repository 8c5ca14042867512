// What every command receives besides commander's `program`: the environment,
// output streams and configuration, so a command never reads process globals
// and main() stays testable.
import type { Command } from 'commander';
import { applyDevEnvironment, describeDevEnvironment, loadConfig, requireDatabaseUrl, type Config } from '@audit-chain/config';

export interface CliContext {
  env: NodeJS.ProcessEnv;
  /** Writes one line to stdout. */
  out(line: string): void;
  /** Writes one line to stderr (warnings; errors are main()'s job: throw them). */
  warn(line: string): void;
  /**
   * Configuration parsed from `env` on first use, so `--help` works with a broken
   * environment; with `cwd` given, unset variables are filled from what npm start
   * recorded (dev-environment.json), and one line on stderr says which and from where.
   */
  config(): Config;
  /** The file the configuration was filled from, if any (error messages point at it). */
  devEnvironmentFile(): string | undefined;
  /** DATABASE_URL, or a ConfigError that says how to set it. */
  databaseUrl(): string;
  /** stderr when it is a terminal (for progress bars), else null. */
  terminal(): NodeJS.WriteStream | null;
  /** The command's clock: what "now" is for partition months, retention ages and key validity. */
  now(): Date;
}

/**
 * One command of the command line. Each lives in its own module under
 * commands/, exports one of these, and is listed in main.ts. It adds its
 * subcommand to `program`; its action throws on failure (main() prints one line
 * and exits non-zero) and must close what it opened, or the process won't exit.
 */
export type RegisterCommand = (program: Command, context: CliContext) => void;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** The clock (default: the system's); tests pass a fixed one to run a command on a chosen day. */
  now?: () => Date;
  /** Where to look for what npm start set up (the bin passes the working directory); unset: not looked for. */
  cwd?: string;
}

export function createContext(io: CliIo): CliContext {
  let config: Config | undefined;
  let devFile: string | undefined;
  const load = (): Config => {
    if (io.cwd === undefined) return loadConfig(io.env);
    const applied = applyDevEnvironment(io.env, io.cwd);
    if (applied.ignored) context.warn(`ignoring ${applied.ignored.file}: ${applied.ignored.reason}`);
    if (applied.source) {
      devFile = applied.source.file;
      context.warn(describeDevEnvironment(applied.source, io.cwd));
    }
    return loadConfig(applied.env);
  };
  const context: CliContext = {
    env: io.env,
    out: (line) => void io.stdout.write(`${line}\n`),
    warn: (line) => void io.stderr.write(`audit-chain: ${line}\n`),
    config: () => (config ??= load()),
    devEnvironmentFile: () => devFile,
    databaseUrl: () => requireDatabaseUrl(context.config()),
    terminal: () => ((io.stderr as Partial<NodeJS.WriteStream>).isTTY ? (io.stderr as NodeJS.WriteStream) : null),
    now: io.now ?? (() => new Date()),
  };
  return context;
}
