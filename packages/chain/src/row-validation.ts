// Checks that a row handed to the canonical form is exactly what format v1
// describes. RFC 8785 serialisers (like JSON.stringify) silently drop object
// members whose value is `undefined` and accept Dates, Maps or class instances;
// any of those would hash *different* bytes than an independent verifier reading
// the same row, so they are refused here instead.
import { InstantFormatError, parseUtcInstant } from './instant.ts';

export class CanonicalFormError extends Error {
  override name = 'CanonicalFormError';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SEQ = /^[1-9]\d*$/;
const MAX_CHAIN_SEQ = 9223372036854775807n;

export const HEX64 = /^[0-9a-f]{64}$/;
export const SALT = /^[0-9a-f]{32}$/;

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export function assertText(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new CanonicalFormError(`${name}: got ${show(value)}, want a string`);
  if (!value.isWellFormed()) throw new CanonicalFormError(`${name}: got a string with a lone surrogate, want well-formed Unicode`);
}

export function assertNullableText(name: string, value: unknown): asserts value is string | null {
  if (value === null) return;
  if (typeof value !== 'string') throw new CanonicalFormError(`${name}: got ${show(value)}, want a string or null`);
  assertText(name, value);
}

export function assertUuid(name: string, value: unknown, nullable: boolean): void {
  if (nullable && value === null) return;
  if (typeof value !== 'string' || !UUID.test(value)) {
    throw new CanonicalFormError(`${name}: got ${show(value)}, want a lowercase UUID${nullable ? ' or null' : ''}`);
  }
}

export function assertChainSeq(name: string, value: unknown): asserts value is string {
  // Fewer than 19 digits is always below the maximum: no BigInt per row on the hot paths.
  if (typeof value !== 'string' || !SEQ.test(value) || (value.length >= 19 && BigInt(value) > MAX_CHAIN_SEQ)) {
    throw new CanonicalFormError(`${name}: got ${show(value)}, want a decimal bigint in 1..${MAX_CHAIN_SEQ} without sign or leading zeros`);
  }
}

export function assertRowTimestamp(name: string, value: unknown): asserts value is string {
  try {
    parseUtcInstant(value as string, name, { fractionDigits: [6] });
  } catch (error) {
    if (error instanceof InstantFormatError) throw new CanonicalFormError(error.message);
    throw error;
  }
}

export function assertHex64(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || !HEX64.test(value)) throw new CanonicalFormError(`${name}: got ${show(value)}, want 64 lowercase hex digits`);
}

export function assertSalt(value: unknown): asserts value is string {
  if (typeof value !== 'string' || !SALT.test(value)) throw new CanonicalFormError(`pii_salt: got ${show(value)}, want 32 lowercase hex digits`);
}

/**
 * A JSON value as JSON.parse produces it: null, booleans, finite numbers,
 * well-formed strings, arrays and plain objects. Walks with an explicit stack so
 * deeply nested details cannot overflow the call stack.
 */
export function assertJsonValue(name: string, root: unknown): void {
  const stack: { value: unknown; path: string }[] = [{ value: root, path: name }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (value === null || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new CanonicalFormError(`${path}: got ${value}, want a finite number`);
      continue;
    }
    if (typeof value === 'string') {
      if (!value.isWellFormed()) throw new CanonicalFormError(`${path}: got a string with a lone surrogate, want well-formed Unicode`);
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i -= 1) {
        if (!(i in value)) throw new CanonicalFormError(`${path}[${i}]: got a hole, want a JSON value`);
        stack.push({ value: value[i], path: `${path}[${i}]` });
      }
      continue;
    }
    if (typeof value === 'object') {
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new CanonicalFormError(`${path}: got ${Object.prototype.toString.call(value)}, want a plain JSON object`);
      }
      for (const key of Object.keys(value)) {
        if (!key.isWellFormed()) throw new CanonicalFormError(`${path}: got a key with a lone surrogate, want well-formed Unicode`);
        stack.push({ value: (value as Record<string, unknown>)[key], path: `${path}.${JSON.stringify(key)}` });
      }
      continue;
    }
    throw new CanonicalFormError(`${path}: got ${show(value)} (${typeof value}), want a JSON value`);
  }
}
