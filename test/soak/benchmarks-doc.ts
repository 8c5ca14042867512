// The "Soak" section of docs/benchmarks.md, between its own markers, so writing
// it never touches the sections `npm run bench` owns.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const START = '<!-- soak:start -->';
const END = '<!-- soak:end -->';

export function writeSoakSection(path: string, markdown: string): void {
  const block = `${START}\n${markdown.trim()}\n${END}`;
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const from = current.indexOf(START);
  const to = current.indexOf(END);
  const next = from >= 0 && to > from ? current.slice(0, from) + block + current.slice(to + END.length) : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(path, next);
}
