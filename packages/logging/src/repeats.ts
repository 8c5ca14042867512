// Repeated identical warnings and errors, summarized: while the database is
// down every loop of every component fails the same way several times a
// second. The first occurrence of a kind is logged in full (stack included);
// the repeats within the window are only counted, and one line per kind says
// how many there were when the window closes.
import type { LogFn, Logger } from 'pino';

/** pino's level numbers: warn and above are summarized; info and below pass through untouched. */
const WARN = 40;

export interface RepeatOptions {
  /** How long repeats of one kind are counted before one summary line (default 60 s). */
  windowMs?: number;
  now?: () => number;
}

interface Kind {
  since: number;
  repeats: number;
  level: number;
  message: string;
  last: string;
  logger: Logger;
  method: LogFn;
}

export class RepeatSummarizer {
  readonly windowMs: number;
  readonly #now: () => number;
  readonly #kinds = new Map<string, Kind>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RepeatOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** pino's `hooks.logMethod`: decides whether a call is written. */
  readonly logMethod = (logger: Logger, args: Parameters<LogFn>, method: LogFn, level: number): void => {
    if (level < WARN) return void method.apply(logger, args);
    const { key, message, detail } = describe(level, args);
    const now = this.#now();
    const kind = this.#kinds.get(key);
    if (kind && now - kind.since < this.windowMs) {
      kind.repeats += 1;
      kind.last = detail;
      this.#schedule();
      return;
    }
    if (kind) this.#summarize(kind);
    this.#kinds.set(key, { since: now, repeats: 0, level, message, last: detail, logger, method });
    method.apply(logger, args);
  };

  /** Writes the summary of every kind whose window has closed (all of them with `all`). */
  flush(all = false): void {
    const now = this.#now();
    for (const [key, kind] of this.#kinds) {
      if (!all && now - kind.since < this.windowMs) continue;
      this.#summarize(kind);
      this.#kinds.delete(key);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush(true);
  }

  #summarize(kind: Kind): void {
    if (kind.repeats === 0) return;
    const seconds = Math.max(1, Math.round((this.#now() - kind.since) / 1000));
    const line = `${kind.message}: repeated ${kind.repeats} more time${kind.repeats === 1 ? '' : 's'} in ${seconds} s (last: ${kind.last})`;
    kind.method.call(kind.logger, { repeated: kind.repeats, seconds }, line);
    kind.repeats = 0;
  }

  /** A timer only while repeats are pending, unref'd: it never keeps a process alive. */
  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.flush();
      if (this.#kinds.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    }, Math.max(1000, this.windowMs / 4));
    this.#timer.unref();
  }
}

/**
 * The kind of a log call: its level, message and error message, with what
 * varies between identical failures (uuids, pg-boss's "(Queue: …, Worker: …)")
 * taken out.
 */
export function describe(level: number, args: readonly unknown[]): { key: string; message: string; detail: string } {
  const [first, second] = args;
  const object = typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : undefined;
  const message = object ? (typeof second === 'string' ? second : '') : String(first ?? '');
  const err = object?.err ?? (first instanceof Error ? first : undefined);
  const detail = err instanceof Error ? err.message : typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : '';
  const normalize = (text: string) =>
    text
      .replace(/\s*\(Queue: [^)]*\)/g, '')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>');
  return { key: `${level}|${normalize(message)}|${normalize(detail)}`, message: message || detail, detail: normalize(detail) || message };
}
