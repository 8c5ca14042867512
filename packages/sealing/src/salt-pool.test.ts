import { describe, expect, test } from 'vitest';
import { saltSource } from './salt-pool.ts';

describe('saltSource', () => {
  test('32 lowercase hex digits each, never the same twice, across draws', () => {
    const next = saltSource(7);
    const salts = Array.from({ length: 10_000 }, next);
    for (const salt of salts) expect(salt).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(salts).size).toBe(salts.length);
  });

  test('two sources do not repeat each other', () => {
    const a = saltSource();
    const b = saltSource();
    const first = new Set(Array.from({ length: 1000 }, a));
    for (let i = 0; i < 1000; i += 1) expect(first.has(b())).toBe(false);
  });
});
