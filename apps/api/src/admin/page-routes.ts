// The admin page (/admin/). The
// page's files are static and public: they hold no data, and the page asks for
// the admin token before it reads anything. A strict Content-Security-Policy
// allows only this origin: no CDN, no inline script, so it also works offline.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const PAGE_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'admin.css': 'text/css; charset=utf-8',
} as const;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function registerPageRoutes(app: FastifyInstance): void {
  // Read once at startup: a missing file fails the start, not a request.
  const files = Object.fromEntries(
    Object.keys(PAGE_FILES).map((name) => [name, readFileSync(new URL(`./page/${name}`, import.meta.url), 'utf8')]),
  ) as Record<keyof typeof PAGE_FILES, string>;

  const send = (name: keyof typeof PAGE_FILES) => async (_request: unknown, reply: import('fastify').FastifyReply) =>
    reply
      .header('content-type', PAGE_FILES[name])
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(files[name]);

  // The page uses relative URLs (v1/lag), so it must be served from /admin/.
  app.get('/admin', async (_request, reply) => reply.redirect('/admin/', 308));
  app.get('/admin/', send('index.html'));
  app.get('/admin/app.js', send('app.js'));
  app.get('/admin/admin.css', send('admin.css'));

}
