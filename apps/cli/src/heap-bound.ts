// The heap bound of the long-running commands (seal, verify, worker). V8 sizes
// its heap limit from the machine's memory (about 4 GB on a 24 GiB host) and
// lets garbage pile up towards it: `seal --once` peaked at 359 MiB on 1,000,000
// rows without a bound and under 180 MiB with one, at the same speed
// (docs/benchmarks.md). A heap limit can only be set when V8 starts, so the
// command line re-executes itself with the bound (process.execve: the same
// process, pid and file descriptors, no parent left behind to forward signals)
// before it loads anything else. It does so only when neither NODE_OPTIONS nor
// node's own flags already set a heap limit: whoever sets one keeps theirs.
// This module imports nothing, so short commands pay for one argv check.

/** The worker image's setting (docker/Dockerfile.worker). */
export const OLD_SPACE_FLAG = '--max-old-space-size=160';
export const SEMI_SPACE_FLAG = '--max-semi-space-size=8';

export const BOUNDED_COMMANDS: ReadonlySet<string> = new Set(['seal', 'verify', 'worker']);

// node accepts - and _ alike inside V8 flag names.
const HEAP_LIMIT = /(^|\s)--max[-_](old[-_]space|heap)[-_]size(=|\s|$)/;
const SEMI_SPACE = /(^|\s)--max[-_]semi[-_]space[-_]size(=|\s|$)/;

/** The subcommand: the first argument after the script that is not an option (the program has no option taking a value). */
export function commandOf(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((arg) => !arg.startsWith('-'));
}

/**
 * The argument vector (argv[0] first) to re-execute this command line with a
 * heap bound, or null when it needs none: not a long-running command, or a heap
 * limit already set through NODE_OPTIONS or node's flags.
 */
export function boundedArgv(argv: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): string[] | null {
  const command = commandOf(argv);
  if (command === undefined || !BOUNDED_COMMANDS.has(command)) return null;
  const given = [nodeOptions ?? '', ...execArgv].join(' ');
  if (HEAP_LIMIT.test(given)) return null;
  const flags = SEMI_SPACE.test(given) ? [OLD_SPACE_FLAG] : [OLD_SPACE_FLAG, SEMI_SPACE_FLAG];
  return [argv[0]!, ...flags, ...execArgv, ...argv.slice(1)];
}
