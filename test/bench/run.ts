// `npm run bench [-- --quick] [-- --only insert,...] [-- --write | --no-write]`
//
// Runs the benchmark sections (sections.ts) one after another against the server
// in DATABASE_URL, prints each section's Markdown to stdout (progress goes to
// stderr) and writes it into docs/benchmarks.md. A full run writes by default; a
// quick run only prints unless --write is given, so a smoke run never replaces
// the recorded figures.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { environmentMarkdown, readEnvironment } from './environment.ts';
import { writeSection } from './benchmarks-doc.ts';
import type { BenchOptions, BenchSection, TargetCheck } from './section.ts';
import { SECTIONS } from './sections.ts';

const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DOC_PATH = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

const USAGE = `usage: npm run bench -- [--quick] [--only ${SECTIONS.map((s) => s.id).join(',')}] [--write | --no-write]
                           [--rounds N] [--seconds N] [--variants A,B] [--conditions A,B]

  --quick         shorter runs and fewer rounds (under 2 minutes); prints only, unless --write
  --only IDS      run only these sections (comma-separated, or repeat the flag)
  --write         write the results into docs/benchmarks.md (the default without --quick
                  and without the overrides below)
  --no-write      only print
  --rounds N      override the sections' number of rounds (a focused rerun; prints only)
  --seconds N     override the sections' seconds per run (prints only)
  --variants IDS  only these variants, in sections that compare variants (prints only);
                  insert-conditions adds the decomposition variants named here to its pair
  --conditions IDS  only these conditions, in sections that compare conditions (prints only)

Environment: DATABASE_URL (default ${DEFAULT_SERVER_URL}); PGBENCH (path to pgbench).`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      write: { type: 'boolean' },
      'no-write': { type: 'boolean' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      variants: { type: 'string', multiple: true },
      conditions: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const selected = selectSections(values.only?.flatMap((value) => value.split(',')) ?? []);
  const rounds = positiveInteger('--rounds', values.rounds);
  const seconds = positiveInteger('--seconds', values.seconds);
  const variants = values.variants?.flatMap((value) => value.split(','));
  const conditions = values.conditions?.flatMap((value) => value.split(','));
  // A focused or quick run must not replace the recorded full run unless asked to.
  const partial = values.quick || rounds !== undefined || seconds !== undefined || variants !== undefined || conditions !== undefined;
  const write = values['no-write'] ? false : (values.write ?? !partial);
  const serverUrl = process.env.DATABASE_URL ?? DEFAULT_SERVER_URL;

  const cleanups: (() => Promise<void>)[] = [];
  const runCleanups = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((error) => log(`cleanup failed: ${error}`));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: dropping scratch databases`);
      void runCleanups().finally(() => process.exit(130));
    });
  }

  const environment = await readEnvironment(serverUrl);
  const options: BenchOptions = {
    quick: values.quick ?? false,
    rounds,
    seconds,
    variants,
    conditions,
    serverUrl,
    command: commandLine(),
    environment,
    log,
    onCleanup: (cleanup) => void cleanups.push(cleanup),
  };
  log(environmentMarkdown(environment, options.command));

  const targets: TargetCheck[] = [];
  const started = Date.now();
  try {
    for (const section of selected) {
      log(`\n== ${section.title} ==`);
      const sectionStarted = Date.now();
      const report = await section.run(options);
      await runCleanups();
      process.stdout.write(`${report.markdown.trim()}\n\n`);
      if (write) {
        writeSection(DOC_PATH, section.id, report.markdown);
        log(`wrote the "${section.title}" section of ${DOC_PATH}`);
      }
      log(`${section.title}: ${((Date.now() - sectionStarted) / 1000).toFixed(0)} s`);
      targets.push(...report.targets);
    }
  } finally {
    await runCleanups();
  }

  process.stdout.write('Targets:\n');
  for (const target of targets) process.stdout.write(`  ${target.met ? 'PASS' : 'MISS'}  ${target.name}: ${target.measured}\n`);
  log(`total ${((Date.now() - started) / 1000).toFixed(0)} s${write ? '' : ' (docs/benchmarks.md not written)'}`);
  // Targets are reported, not enforced: a missed target is a finding, not a failed run.
  return 0;
}

function selectSections(ids: string[]): BenchSection[] {
  if (ids.length === 0) return [...SECTIONS];
  return ids.map((id) => {
    const section = SECTIONS.find((candidate) => candidate.id === id);
    if (!section) throw new Error(`unknown section "${id}": want one of ${SECTIONS.map((s) => s.id).join(', ')}`);
    return section;
  });
}

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${flag} wants a positive integer, got ${value}`);
  return parsed;
}

/** How the reader would type this run: through npm when npm started it. */
function commandLine(): string {
  const args = process.argv.slice(2).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `node test/bench/run.ts${args ? ` ${args}` : ''}`;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
