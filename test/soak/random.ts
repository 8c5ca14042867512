// A small deterministic PRNG (mulberry32), so a run's choices and fault
// schedule can be replayed from its printed seed.

export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** An independent stream, for one writer or one schedule. */
  fork(label: number): Random;
}

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => {
      if (items.length === 0) throw new Error('pick: got an empty list, want at least one item');
      return items[Math.floor(next() * items.length)]!;
    },
    fork: (label) => seededRandom(Math.imul(seed ^ 0x9e3779b9, 31) + label * 7919),
  };
}
