// `--older-than 400d`: a duration in whole units.
import { LifecycleError } from '../errors.ts';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!match) throw new LifecycleError(`--older-than: got ${JSON.stringify(text)}, want a number and a unit: s, m, h, d or w (e.g. 400d)`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
