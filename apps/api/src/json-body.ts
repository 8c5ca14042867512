// The one parser for request bodies: JSON in UTF-8 (RFC 8259 section 8.1).
// A body declared in another charset is refused (415) rather than misread as
// UTF-8; keys that could reach an object's prototype (__proto__, and
// constructor.prototype) are refused by name, with the JSON pointer to them,
// instead of the generic "not valid JSON" a poisoning guard would give.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, type FieldProblem } from './errors.ts';

export function registerJsonBody(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    try {
      done(null, parseJsonBody(request, body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

function parseJsonBody(request: FastifyRequest, body: string): unknown {
  const charset = charsetOf(request.headers['content-type']);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ApiError(415, 'unsupported_media_type', `the body must be UTF-8 JSON (Content-Type: application/json; charset=utf-8), not charset=${charset}`);
  }
  if (body.length === 0) throw new ApiError(400, 'malformed_json', 'the body is empty; send a JSON object; nothing was written');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new ApiError(400, 'malformed_json', `Body is not valid JSON (${(error as Error).message}); nothing was written`);
  }
  const forbidden = forbiddenKeys(parsed, '');
  if (forbidden.length > 0) {
    throw new ApiError(400, 'forbidden_key', 'the body contains a key that is refused so it cannot alter object prototypes; nothing was written', {
      details: forbidden,
    });
  }
  return parsed;
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
  if (typeof value !== 'object' || value === null) return [];
  if (Array.isArray(value)) return value.flatMap((item, index) => forbiddenKeys(item, `${pointer}/${index}`));
  const problems: FieldProblem[] = [];
  for (const [key, child] of Object.entries(value)) {
    const at = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (key === '__proto__') problems.push({ field: at, problem: 'the key __proto__ is not allowed' });
    else if (key === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype')) {
      problems.push({ field: `${at}/prototype`, problem: 'the key constructor.prototype is not allowed' });
    }
    problems.push(...forbiddenKeys(child, at));
  }
  return problems;
}
