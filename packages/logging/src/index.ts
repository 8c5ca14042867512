// The one logger of a process: pino, human-readable (pino-pretty) when stdout
// is a terminal and JSON lines otherwise, with repeated warnings and errors
// summarized (repeats.ts). The API (Fastify's loggerInstance) and the worker
// share it when npm start runs both.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import { RepeatSummarizer, type RepeatOptions } from './repeats.ts';

export { RepeatSummarizer, describe as describeLogCall } from './repeats.ts';

/** The summarizer a logger uses; tests flush it. */
export const summarizers = new WeakMap<Logger, RepeatSummarizer>();

export interface LoggerOptions {
  level: LevelWithSilent;
  name?: string;
  /** Where lines go (default stdout). */
  output?: NodeJS.WritableStream;
  /** Human-readable lines (pino-pretty) rather than JSON; default: whether stdout is a terminal. */
  pretty?: boolean;
  repeats?: RepeatOptions;
}

export function createLogger(options: LoggerOptions): Logger {
  const summarizer = new RepeatSummarizer(options.repeats);
  const usePretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const destination: DestinationStream = usePretty
    ? pretty({
        colorize: options.output === undefined ? Boolean(process.stdout.isTTY) : false,
        sync: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
        ...(options.output ? { destination: options.output } : {}),
      })
    : ((options.output as DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: true }));
  const logger = pino(
    {
      level: options.level,
      ...(options.name ? { name: options.name } : {}),
      hooks: {
        logMethod(args, method, level) {
          summarizer.logMethod(this, args, method, level);
        },
      },
    },
    destination,
  );
  summarizers.set(logger, summarizer);
  return logger;
}
