// Bearer-token check for the audit routes. Runs as an onRequest hook, before the
// body is read, so an unauthenticated caller learns nothing about validation and
// costs no parsing.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { ApiError } from './errors.ts';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="audit-chain"' };

/**
 * A hook that admits requests carrying `Authorization: Bearer <token>`. With no
 * token configured it refuses every request: an audit API must never fall open.
 */
export function requireBearerToken(token: string | undefined): onRequestHookHandler {
  const expected = token === undefined ? undefined : digest(token);
  return async function checkBearerToken(request: FastifyRequest, _reply: FastifyReply) {
    if (expected === undefined) {
      throw new ApiError(503, 'auth_not_configured', 'no API token is configured (AUDIT_CHAIN_API_TOKEN); the audit API refuses all requests');
    }
    const presented = bearerToken(request.headers.authorization);
    if (presented === undefined) {
      throw new ApiError(401, 'unauthorized', 'missing bearer token: send Authorization: Bearer <token>', { headers: CHALLENGE });
    }
    // Comparing fixed-length digests keeps the time independent of where, and whether, the lengths differ.
    if (!timingSafeEqual(digest(presented), expected)) {
      throw new ApiError(401, 'unauthorized', 'invalid bearer token', {
        headers: { 'www-authenticate': 'Bearer realm="audit-chain", error="invalid_token"' },
      });
    }
  };
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  return match?.[1];
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
