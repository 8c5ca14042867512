// docs/benchmarks.md holds one generated block per section, between markers, so
// running one section (`--only insert`) rewrites only its own block and leaves
// the other sections and any hand-written text outside the markers alone.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const INTRO = `# Benchmarks

Produced by \`npm run bench\` (see test/bench/run.ts): every variant of a section
is measured in the same run against the same PostgreSQL server, interleaved over
several rounds, and reported as the median. The machine this runs on is noisy, so
compare rows within one section's run rather than across runs.

Needs a PostgreSQL server (\`DATABASE_URL\`, default
\`postgres://postgres@127.0.0.1:5432/postgres\`; the run creates and drops its own
scratch databases) and \`pgbench\` (Debian/Ubuntu: \`apt-get install
postgresql-client\` or \`postgresql-contrib\`; or set \`PGBENCH=/path/to/pgbench\`).

\`npm run bench\` runs every section and rewrites its block below;
\`npm run bench -- --only insert\` runs one; \`--quick\` is a shorter smoke run
that only prints (add \`--write\` to record it anyway).
`;

function markers(sectionId: string): { start: string; end: string } {
  return { start: `<!-- bench:${sectionId}:start -->`, end: `<!-- bench:${sectionId}:end -->` };
}

/** Replaces the section's generated block, or appends it if the file has none yet. */
export function writeSection(path: string, sectionId: string, markdown: string): void {
  const { start, end } = markers(sectionId);
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const current = existsSync(path) ? readFileSync(path, 'utf8') : INTRO;
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  let next: string;
  if (from >= 0 && to > from) {
    next = current.slice(0, from) + block + current.slice(to + end.length);
  } else {
    next = `${current.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(path, next);
}
