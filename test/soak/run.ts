// `npm run soak [-- --long | --duration S] [--seed N] [--keep] [--write]`
//
// Runs the soak (soak.ts), prints its counts and exits 0 only when every check
// held; with --write records the counts in docs/benchmarks.md, section "Soak".
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseSoakOptions, USAGE } from './options.ts';
import { markdownSection, textReport } from './report.ts';
import { runSoak } from './soak.ts';
import { writeSoakSection } from './benchmarks-doc.ts';

const DOC_PATH = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

export async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseSoakOptions(argv);
  } catch (error) {
    process.stderr.write(`soak: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`soak: ${line}\n`);
  // Exiting runs the 'exit' hooks that SIGKILL the API and the workers and stop the embedded PostgreSQL.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the API, the workers and PostgreSQL; the data directory stays`);
      process.exit(130);
    });
  }
  const result = await runSoak(options, log);
  process.stdout.write(textReport(result));
  if (options.write) {
    writeSoakSection(DOC_PATH, markdownSection(result, machine()));
    log(`wrote the "Soak" section of ${DOC_PATH}`);
  }
  return result.failures.length === 0 ? 0 : 1;
}

function machine(): string {
  const cpu = cpus();
  return `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.versions.node}, embedded PostgreSQL 18`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`soak: could not run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(2);
    },
  );
}
