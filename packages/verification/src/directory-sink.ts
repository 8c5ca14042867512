// The directory sink: append-only JSON lines, one file per UTC day of signed_at
// (`checkpoints-YYYY-MM-DD.jsonl`), each line the RFC 8785 text of a signed
// checkpoint (docs/chain-format.md, "Checkpoints"). A day per file keeps the
// files few, easy to archive and to hand to an auditor, and never rewritten
// once the day is over. Lines are fsync'd before write() returns.
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { checkpointLine, type AnySignedCheckpoint } from '@audit-chain/chain';
import { SinkError, type CheckpointSink } from './sinks.ts';

const FILE_NAME = /^checkpoints-\d{4}-\d{2}-\d{2}\.jsonl$/;

export function checkpointFileName(signedAt: string): string {
  return `checkpoints-${signedAt.slice(0, 10)}.jsonl`;
}

export class DirectoryCheckpointSink implements CheckpointSink {
  readonly name = 'directory';
  readonly target: string;

  constructor(dir: string) {
    this.target = dir;
  }

  async write(checkpoints: readonly AnySignedCheckpoint[]): Promise<void> {
    const byFile = new Map<string, string[]>();
    for (const checkpoint of checkpoints) {
      const file = checkpointFileName(checkpoint.signed_at);
      const lines = byFile.get(file);
      if (lines) lines.push(`${checkpointLine(checkpoint)}\n`);
      else byFile.set(file, [`${checkpointLine(checkpoint)}\n`]);
    }
    let written = 0;
    try {
      await mkdir(this.target, { recursive: true });
      for (const [file, lines] of byFile) {
        await appendDurably(this.target, file, lines.join(''));
        written += lines.length;
      }
    } catch (error) {
      throw new SinkError(this.name, written, `cannot append checkpoints to ${this.target}: ${(error as Error).message}`, { cause: error });
    }
  }
}

async function appendDurably(dir: string, file: string, text: string): Promise<void> {
  const path = join(dir, file);
  const handle = await open(path, 'a+', 0o644);
  let created = false;
  try {
    const { size } = await handle.stat();
    created = size === 0;
    // A crash mid-append may have left a last line without its newline: end it,
    // so the next checkpoint is not glued onto it (the torn line is reported as malformed).
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    await handle.appendFile(prefix + text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (created) await syncDirectory(dir);
}

/** A new file's directory entry is only durable once the directory is fsync'd. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems refuse fsync on a directory; the data itself is synced.
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL' && (error as NodeJS.ErrnoException).code !== 'EISDIR') throw error;
  } finally {
    await handle.close();
  }
}

export interface ExportedLine {
  line: string;
  /** e.g. `checkpoints-2026-11-23.jsonl:17` */
  source: string;
}

/** The checkpoint files of a directory sink, oldest first; null when the directory does not exist. */
export async function listCheckpointFiles(dir: string): Promise<string[] | null> {
  try {
    return (await readdir(dir)).filter((name) => FILE_NAME.test(name)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Streams every line of a directory sink's files. Blank lines are skipped, and so
 * is a last line without its newline: a checkpoint still being appended.
 */
export async function* readCheckpointLines(dir: string, files: readonly string[]): AsyncGenerator<ExportedLine> {
  for (const file of files) {
    const stream = createReadStream(join(dir, file), { encoding: 'utf8' });
    let endsWithNewline = true;
    stream.on('data', (chunk) => {
      if (chunk.length > 0) endsWithNewline = (chunk as string).endsWith('\n');
    });
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    let number = 0;
    let pending: ExportedLine | null = null;
    for await (const line of lines) {
      number += 1;
      if (pending) yield pending;
      pending = line.trim() === '' ? null : { line, source: `${file}:${number}` };
    }
    if (pending && endsWithNewline) yield pending;
  }
}
