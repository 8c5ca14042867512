// Requests Node's HTTP parser refuses before Fastify sees them (malformed
// headers, headers over the size limit, a request that took too long) still
// get the API's one error shape, written straight to the socket.
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { ErrorBody } from './errors.ts';

interface ClientError extends Error {
  code?: string;
}

const BY_CODE: Record<string, { status: number; reason: string; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: 'headers_too_large',
    message: 'the request headers are larger than the server accepts (16 KiB in all by default)',
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', code: 'request_timeout', message: 'the request was not received in time' },
};

export function clientErrorHandler(this: FastifyInstance, error: ClientError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const known = error.code ? BY_CODE[error.code] : undefined;
  const { status, reason, code, message } = known ?? {
    status: 400,
    reason: 'Bad Request',
    code: 'bad_request',
    message: `the HTTP request is malformed (${error.code ?? 'parse error'}): ${describe(error)}`,
  };
  this.log.info({ code: error.code, status }, 'refused by the HTTP parser');
  const body: ErrorBody = { error: code, message, details: [] };
  const text = JSON.stringify(body);
  if (!socket.writable) return void socket.destroy();
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/** llhttp's reason ("Invalid header value char"), without the raw bytes it quotes. */
function describe(error: ClientError): string {
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' && reason !== '' ? reason : error.message.replace(/^Parse Error: /, '');
}
