// The request body parser: JSON read without losing or changing anything the
// client sent, so that what the database stores is exactly the request's
// content, or the request is a 400 naming the field.
//   - numbers stay their decimal text (lossless-json's LosslessNumber) and reach
//     jsonb as written, whose numeric keeps value and scale exactly (1.0 stays
//     1.0, 9007199254740993 and 1e400 stay exact); a number beyond numeric's
//     range (131072 digits before the point, 16383 after) is refused;
//   - a key given twice in one object with different values is refused (JSON.parse
//     and jsonb would keep only the last);
//   - bytes that are not UTF-8 are refused (a decoder would put U+FFFD there),
//     and a body declared in another charset is refused (415) rather than
//     misread as UTF-8 (RFC 8259 section 8.1);
//   - keys that could reach an object's prototype (__proto__, and
//     constructor.prototype) are refused by name, with the JSON pointer to them.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isLosslessNumber, parse, stringify } from 'lossless-json';
import { ApiError, validationError, type FieldProblem } from './errors.ts';
import { escapePointer } from './storable-text.ts';

/** Stands in for each invalid UTF-8 sequence while decoding (a noncharacter), to name the field afterwards. */
const INVALID = '\uFDD0';
/** numeric's limits (PostgreSQL: up to 131072 digits before the decimal point, up to 16383 after). */
const MAX_INTEGER_DIGITS = 131_072;
const MAX_FRACTION_DIGITS = 16_383;

/** Marks a key that appeared twice with different values. */
class DuplicateKey {
  readonly key: string;
  constructor(key: string) {
    this.key = key;
  }
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 to text; every invalid sequence becomes INVALID. Returns whether there was any. */
export function decodeUtf8(bytes: Uint8Array): { text: string; invalid: boolean } {
  try {
    return { text: strict.decode(bytes), invalid: false };
  } catch {
    // Slow path, only for bad input: decode the longest valid runs, mark the rest.
    let text = '';
    let start = 0;
    let i = 0;
    while (i < bytes.length) {
      const length = sequenceLength(bytes, i);
      if (length > 0) {
        i += length;
        continue;
      }
      text += strict.decode(bytes.subarray(start, i)) + INVALID;
      i += 1;
      start = i;
    }
    text += strict.decode(bytes.subarray(start));
    return { text, invalid: true };
  }
}

/** Length of the well-formed UTF-8 sequence at i (RFC 3629), or 0. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** Why numeric cannot store this JSON number exactly, or undefined. */
export function numberProblem(text: string): string | undefined {
  const match = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) return 'must be a JSON number';
  const [, whole = '', fraction = '', exponentText = '0'] = match;
  const outOfRange = 'is out of the range PostgreSQL can store exactly (numeric: 131072 digits before the decimal point, 16383 after)';
  if (exponentText.replace(/^[+-]?0*/, '').length > 9) return outOfRange;
  const exponent = Number(exponentText);
  // numeric keeps the scale as written, shifted by the exponent: 1.50e1 is 15.0.
  if (fraction.length - exponent > MAX_FRACTION_DIGITS) return outOfRange;
  const integer = whole.replace(/^0+/, '');
  const integerDigits = integer !== '' ? integer.length + exponent : fraction.replace(/^0+/, '') === '' ? 0 : exponent - (fraction.length - fraction.replace(/^0+/, '').length);
  if (integerDigits > MAX_INTEGER_DIGITS) return outOfRange;
  return undefined;
}

/** The problems of a parsed body that JSON schema cannot see: duplicate keys, invalid UTF-8, numbers numeric cannot hold. */
export function findLossyJson(root: unknown, invalidUtf8: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const stack: { value: unknown; path: string }[] = [{ value: root, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'string') {
      if (invalidUtf8 && value.includes(INVALID)) problems.push({ field: path, problem: 'must be valid UTF-8' });
      continue;
    }
    if (value instanceof DuplicateKey) {
      problems.push({ field: path, problem: `key ${JSON.stringify(value.key)} appears more than once with different values; only one can be stored` });
      continue;
    }
    if (isLosslessNumber(value)) {
      const problem = numberProblem(value.value);
      if (problem) problems.push({ field: path, problem });
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    for (const [key, child] of Object.entries(value)) {
      const childPath = `${path}/${escapePointer(key)}`;
      if (invalidUtf8 && key.includes(INVALID)) problems.push({ field: childPath, problem: 'key must be valid UTF-8' });
      stack.push({ value: child, path: childPath });
    }
  }
  return problems.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
}

/** Parses a request body; throws ApiError 400 with every field that cannot be stored exactly. */
export function parseJsonBody(bytes: Uint8Array, contentType?: string): unknown {
  const charset = charsetOf(contentType);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ApiError(415, 'unsupported_media_type', `the body must be UTF-8 JSON (Content-Type: application/json; charset=utf-8), not charset=${charset}`);
  }
  const { text, invalid } = decodeUtf8(bytes);
  let body: unknown;
  try {
    if (text.trim() === '') throw new SyntaxError('the body is empty');
    body = parse(text, null, { onDuplicateKey: ({ key }) => new DuplicateKey(key) });
  } catch (error) {
    throw new ApiError(400, 'malformed_json', `the body is not valid JSON (${(error as Error).message}); nothing was written`);
  }
  const forbidden = forbiddenKeys(body, '');
  if (forbidden.length > 0) {
    throw new ApiError(400, 'forbidden_key', 'the body contains a key that is refused so it cannot alter object prototypes; nothing was written', {
      details: forbidden,
    });
  }
  const problems = findLossyJson(body, invalid);
  if (problems.length > 0) throw validationError(problems, 'the request has values that cannot be stored exactly; nothing was written');
  return body;
}

/** The charset parameter of a Content-Type, lower-cased and unquoted; undefined when absent. */
export function charsetOf(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  for (const parameter of contentType.split(';').slice(1)) {
    const [name, ...rest] = parameter.split('=');
    if (name?.trim().toLowerCase() === 'charset') return rest.join('=').trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return undefined;
}

/** Every `__proto__` key, and every `constructor` object with a `prototype` key, as JSON pointers. */
export function forbiddenKeys(value: unknown, pointer: string): FieldProblem[] {
  if (typeof value !== 'object' || value === null || isLosslessNumber(value) || value instanceof DuplicateKey) return [];
  if (Array.isArray(value)) return value.flatMap((item, index) => forbiddenKeys(item, `${pointer}/${index}`));
  const problems: FieldProblem[] = [];
  for (const key of Object.getOwnPropertyNames(value)) {
    const child = (value as Record<string, unknown>)[key];
    const at = `${pointer}/${escapePointer(key)}`;
    if (key === '__proto__') problems.push({ field: at, problem: 'the key __proto__ is not allowed' });
    else if (key === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype')) {
      problems.push({ field: `${at}/prototype`, problem: 'the key constructor.prototype is not allowed' });
    }
    problems.push(...forbiddenKeys(child, at));
  }
  return problems;
}

/** JSON text of a parsed body's value, numbers exactly as the client wrote them. */
export function stringifyJson(value: unknown): string {
  const text = stringify(value);
  if (text === undefined) throw new TypeError('value has no JSON form');
  return text;
}

/** Replaces Fastify's JSON parser with parseJsonBody. */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request: FastifyRequest, body: Buffer, done) => {
    try {
      done(null, parseJsonBody(body, request.headers['content-type']));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
