// Bearer-token check for the admin surface (/admin/v1/*, /metrics). Separate
// from the write token on purpose: the write token MUST NOT grant admin, so a
// client that can write events cannot read every organization's lag. A
// missing token is 401, a wrong one 403; with no admin token configured, or one
// equal to the write token, every admin request is refused (503), never let in.
// The two helpers mirror auth.ts (which keeps them private) so that module stays untouched.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { ApiError } from '../errors.ts';

export function requireAdminToken(adminToken: string | undefined, writeToken: string | undefined): onRequestHookHandler {
  const misconfigured =
    adminToken === undefined
      ? 'no admin token is configured (AUDIT_CHAIN_ADMIN_TOKEN); the admin API refuses all requests'
      : adminToken === writeToken
        ? 'AUDIT_CHAIN_ADMIN_TOKEN equals AUDIT_CHAIN_API_TOKEN; the admin API refuses all requests until they differ'
        : undefined;
  const expected = adminToken === undefined ? undefined : digest(adminToken);
  return async function checkAdminToken(request: FastifyRequest, _reply: FastifyReply) {
    if (misconfigured !== undefined || expected === undefined) {
      throw new ApiError(503, 'auth_not_configured', misconfigured ?? 'no admin token is configured');
    }
    const presented = bearerToken(request.headers.authorization);
    if (presented === undefined) {
      throw new ApiError(401, 'unauthorized', 'missing bearer token: send Authorization: Bearer <admin token>', {
        headers: { 'www-authenticate': 'Bearer realm="audit-chain-admin"' },
      });
    }
    // Fixed-length digests: the comparison takes the same time whatever was presented.
    if (!timingSafeEqual(digest(presented), expected)) {
      throw new ApiError(403, 'forbidden', 'this token does not grant access to the admin API');
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
