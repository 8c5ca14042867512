// What a newcomer opens first: `/` (links to everything else), the OpenAPI
// description at /openapi.json, and a readable page of it at /docs (Swagger UI
// from @fastify/swagger-ui, its files served from node_modules: no CDN, so it
// works offline). All public: they describe the API and hold no data.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OPENAPI_DOCUMENT } from '../openapi.ts';

/** The links `/` lists, in the order an operator needs them. */
const LINKS = [
  { href: '/admin/', title: 'Admin page', what: 'chain lag, verification and checkpoints (asks for the admin token)' },
  { href: '/docs', title: 'API docs', what: 'every route, with its request and response schemas' },
  { href: '/openapi.json', title: 'OpenAPI description', what: 'the same, as OpenAPI 3.1 JSON' },
  { href: '/metrics', title: 'Prometheus metrics', what: 'needs Authorization: Bearer <admin token>' },
  { href: '/healthz', title: 'Liveness', what: 'the process serves requests' },
  { href: '/readyz', title: 'Readiness', what: 'the database answers' },
] as const;

const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function registerDocs(app: FastifyInstance): void {
  app.get('/openapi.json', async () => OPENAPI_DOCUMENT);
  app.get('/', async (request, reply) => {
    if (wantsHtml(request)) {
      return reply.header('content-type', 'text/html; charset=utf-8').header('content-security-policy', "default-src 'none'").send(indexHtml());
    }
    return { name: 'audit-chain', links: LINKS };
  });

  // Encapsulated: the plugins' hooks (a CSP for the docs' files) stay on /docs.
  void app.register(async (docs) => {
    await docs.register(swagger, { mode: 'static', specification: { document: structuredClone(OPENAPI_DOCUMENT) as never } });
    await docs.register(swaggerUi, {
      routePrefix: '/docs',
      // Only this origin, as the admin page. Swagger UI (React) sets style attributes, hence 'unsafe-inline' for styles only.
      staticCSP: DOCS_CSP,
      // No call to validator.swagger.io: the page works offline and sends the document nowhere.
      uiConfig: { validatorUrl: null, deepLinking: true, persistAuthorization: false },
      logLevel: 'warn',
    });
  });
}

function wantsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return /\btext\/html\b/.test(accept);
}

function indexHtml(): string {
  const items = LINKS.map((link) => `<li><a href="${link.href}">${link.title}</a> <code>${link.href}</code>: ${escapeHtml(link.what)}</li>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>audit-chain</title></head>
<body>
<h1>audit-chain</h1>
<p>Tamper-evident audit hash chains in PostgreSQL.</p>
<ul>
${items}
</ul>
<p>Write events with <code>POST /v1/audit-events</code> and read them with <code>GET /v1/orgs/{orgId}/audit-events</code> (bearer: the write token); see the API docs.</p>
</body></html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
