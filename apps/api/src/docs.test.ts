// The first things a newcomer opens: `/`, /openapi.json and /docs. The document
// must describe every route the server registers, and what the routes answer
// must match its schemas.
import { Ajv } from 'ajv';
import Fastify from 'fastify';
import { afterAll, describe, expect, test } from 'vitest';
import { loadConfig } from '@audit-chain/config';
import { createTestDatabase } from '../../../test/support/database.ts';
import { OPENAPI_DOCUMENT } from './openapi.ts';
import { registerRoutes } from './server.ts';
import { AUTH, event, ORG_A, testServer } from './test-support.ts';

const db = await createTestDatabase();
const app = testServer(db.pool, { AUDIT_CHAIN_ADMIN_TOKEN: 'test-admin-token-docs' });
afterAll(() => app.close());

const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$/);
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
ajv.addFormat('ip-address', true);
ajv.addSchema({ $id: 'openapi.json', components: OPENAPI_DOCUMENT.components });

/** The schema of a documented response, resolved against the document. */
function responseSchema(path: string, method: string, status: string): object {
  const paths = OPENAPI_DOCUMENT.paths as unknown as Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: object }> }> }>>;
  const schema = paths[path]?.[method]?.responses[status]?.content['application/json']?.schema;
  if (!schema) throw new Error(`no ${method} ${path} ${status} in the document`);
  return JSON.parse(JSON.stringify(schema).replace(/"#\/components/g, '"openapi.json#/components'));
}

function expectDocumented(path: string, method: string, status: string, body: unknown): void {
  const validate = ajv.compile(responseSchema(path, method, status));
  validate(body);
  expect(validate.errors ?? [], `${method} ${path} ${status}: ${JSON.stringify(body).slice(0, 400)}`).toEqual([]);
}

describe('OpenAPI description', () => {
  test('is served at /openapi.json', async () => {
    const served = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(served.statusCode).toBe(200);
    expect(served.json()).toEqual(JSON.parse(JSON.stringify(OPENAPI_DOCUMENT)));
  });

  test('describes every route the server registers, with its method, and nothing else', async () => {
    const bare = Fastify({ ajv: { onCreate: (ajv) => ajv.addFormat('ip-address', true) } });
    const routes: string[] = [];
    bare.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push(`${method.toLowerCase()} ${route.url}`);
    });
    const config = loadConfig({ AUDIT_CHAIN_API_TOKEN: 'w', AUDIT_CHAIN_ADMIN_TOKEN: 'a' });
    registerRoutes(bare, { pool: db.pool, config, adminSampleIntervalMs: 0 });
    await bare.ready();
    await bare.close();
    // The page's assets and redirect are the page (/admin/); the docs page's assets and variants are /docs.
    const assets = /^get (\/admin|\/admin\/app\.js|\/admin\/admin\.css|\/docs\/.*)$/;
    const registered = [...new Set(routes)].filter((route) => !assets.test(route)).map((route) => route.replace(/:(\w+)/g, '{$1}'));
    const documented = Object.entries(OPENAPI_DOCUMENT.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`));
    expect(registered.sort()).toEqual(documented.sort());
    expect(documented).toEqual(expect.arrayContaining(['post /v1/audit-events', 'get /v1/orgs/{orgId}/audit-events', 'get /admin/v1/lag', 'get /metrics', 'get /']));
  });

  test('what the write and read routes answer matches the documented schemas, errors included', async () => {
    const one = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: event() });
    expect(one.statusCode).toBe(201);
    expectDocumented('/v1/audit-events', 'post', '201', one.json());
    const batch = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: { events: [event(), event({ org_id: null, ip_address: '10.0.0.1' })] } });
    expect(batch.statusCode).toBe(201);
    expectDocumented('/v1/audit-events', 'post', '201', batch.json());

    const page = await app.inject({ method: 'GET', url: `/v1/orgs/${ORG_A}/audit-events?limit=1`, headers: AUTH });
    expect(page.statusCode).toBe(200);
    expect(page.json().events).toHaveLength(1);
    expectDocumented('/v1/orgs/{orgId}/audit-events', 'get', '200', page.json());
    const system = await app.inject({ method: 'GET', url: '/v1/orgs/system/audit-events', headers: AUTH });
    expectDocumented('/v1/orgs/{orgId}/audit-events', 'get', '200', system.json());

    const invalid = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: { org_id: 'x' } });
    expect(invalid.statusCode).toBe(400);
    expectDocumented('/v1/audit-events', 'post', '400', invalid.json());
    expectDocumented('/healthz', 'get', '200', (await app.inject({ method: 'GET', url: '/healthz' })).json());
    expectDocumented('/readyz', 'get', '200', (await app.inject({ method: 'GET', url: '/readyz' })).json());
  });
});

describe('docs page', () => {
  test('/docs is a Swagger UI page of the document, its files served here: nothing from another origin', async () => {
    const page = await app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const sources = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(sources.length).toBeGreaterThan(2);
    for (const source of sources) {
      expect(source).not.toMatch(/^(https?:)?\/\//);
      const asset = await app.inject({ method: 'GET', url: new URL(source, 'http://localhost/docs').pathname });
      expect([source, asset.statusCode]).toEqual([source, 200]);
    }
    const initializer = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    expect(initializer.body).toContain('"validatorUrl":null');
    const json = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(json.json().paths['/v1/audit-events']).toBeDefined();
  });
});

describe('/', () => {
  test('a browser gets a page linking the admin page and the docs; other clients get the links as JSON', async () => {
    const html = await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    for (const href of ['/admin/', '/docs', '/openapi.json', '/metrics']) expect(html.body).toContain(`href="${href}"`);

    const json = await app.inject({ method: 'GET', url: '/' });
    expect(json.statusCode).toBe(200);
    expect(json.json().links.map((link: { href: string }) => link.href)).toEqual(['/admin/', '/docs', '/openapi.json', '/metrics', '/healthz', '/readyz']);
  });
});
