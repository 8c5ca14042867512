// The audit-chain command line: wires commander, the commands and error
// reporting. Each command is one module under commands/; add it to COMMANDS.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { createContext, type CliContext, type CliIo, type RegisterCommand } from './context.ts';
import { describeError, exitCodeOf } from './errors.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerSeal } from './commands/seal.ts';
import { registerWorker } from './commands/worker.ts';
import { registerVerify } from './commands/verify.ts';
import { registerCheckpoint } from './commands/checkpoint.ts';
import { registerKeygen } from './commands/keygen.ts';
import { registerLag } from './commands/lag.ts';
import { registerStatus } from './commands/status.ts';
import { registerAdopt } from './commands/adopt.ts';
import { registerAttach } from './commands/attach.ts';
import { registerRetain } from './commands/retain.ts';
import { registerRedact } from './commands/redact.ts';
import { registerPartition } from './commands/partition.ts';
import { registerResume } from './commands/resume.ts';
import { registerCitus } from './commands/citus.ts';

const COMMANDS: RegisterCommand[] = [registerMigrate, registerSeal, registerWorker, registerVerify, registerCheckpoint, registerKeygen, registerLag, registerStatus, registerAttach, registerAdopt, registerRetain, registerRedact, registerPartition, registerResume, registerCitus];

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function createProgram(io: CliIo, context: CliContext = createContext(io)): Command {
  const program = new Command('audit-chain')
    .description('Tamper-evident audit hash chains in PostgreSQL: migrate, seal, verify and watch the chain.')
    .version(VERSION)
    .addHelpText('after', '\nReads DATABASE_URL and the AUDIT_CHAIN_* variables (see README.md). AUDIT_CHAIN_DEBUG=1 prints stack traces.')
    // Set before the commands are added: subcommands inherit both.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      // commander's own errors (unknown command, bad option) as one line, like ours.
      outputError: (text, write) => write(`audit-chain: ${text.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()}\n`),
    });
  for (const register of COMMANDS) register(program, context);
  return program;
}

/** Runs the command line on `argv` (as in process.argv) and returns the exit code. */
export async function main(argv: string[], io: CliIo = { env: process.env, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const context = createContext(io);
  const program = createProgram(io, context);
  try {
    await program.parseAsync(argv, { from: 'node' });
    return 0;
  } catch (error) {
    // Help, version and usage errors: commander has already written what it had to say.
    if (error instanceof CommanderError) return error.exitCode;
    const described = describeError(error);
    // The URL came from what npm start recorded: nothing listening there most likely means it is not running.
    const devFile = context.devEnvironmentFile();
    const hint = devFile && described.startsWith('cannot connect') && !context.env.DATABASE_URL ? ` (DATABASE_URL from ${devFile}: is npm start running?)` : '';
    io.stderr.write(`audit-chain: ${described}${hint}\n`);
    if (io.env.AUDIT_CHAIN_DEBUG === '1') io.stderr.write(`${stackOf(error)}\n`);
    return exitCodeOf(error);
  }
}

function stackOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const own = error.stack ?? `${error.name}: ${error.message}`;
  return error.cause === undefined ? own : `${own}\ncaused by: ${stackOf(error.cause)}`;
}
