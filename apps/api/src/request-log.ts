// One log line per request, written when the response is sent:
// "POST /v1/audit-events 201 4 ms". Successful reads (an open admin tab polls
// every few seconds, Prometheus scrapes /metrics) are at debug, so they do not
// bury writes and errors at the default level; writes and client errors are at
// info; server errors are logged by the error handler with their stack, so
// their request line is at debug too.
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The error code sent with a response (errors.ts sets it), for the request line. */
export const sentErrorCodes = new WeakMap<FastifyReply, string>();

export function registerRequestLog(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const method = request.method;
    const url = request.url.split('?')[0] ?? request.url;
    const reading = method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
    const level = status >= 500 || (status < 400 && reading) ? 'debug' : 'info';
    const code = sentErrorCodes.get(reply);
    const ms = Math.round(reply.elapsedTime);
    request.log[level]({ method, url, status, ms, ...(code ? { error: code } : {}) }, `${method} ${url} ${status}${code ? ` ${code}` : ''} ${ms} ms`);
    done();
  });
}
