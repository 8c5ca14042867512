import pg from 'pg';
import { createPool, migrate, withChainSearchPath } from '@audit-chain/db';
import { sealOnce } from '@audit-chain/sealing';
const server = 'postgres://postgres@127.0.0.1:5444/postgres';
const admin = new pg.Client(server); await admin.connect();
await admin.query('drop database if exists perf_verify with (force)'); await admin.query('create database perf_verify'); await admin.end();
const url = withChainSearchPath('postgres://postgres@127.0.0.1:5444/perf_verify');
await migrate(url);
const pool = createPool(url, { applicationName: 'perf', max: 4 });
const orgs = Array.from({ length: 100 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
await pool.query(`insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, resource_type, resource_id, details, ip_address, user_agent)
       select case when g % 2 = 0 then $1::uuid else ($2::uuid[])[1 + (g / 2) % 99] end,
              'agent', 'agent-' || (g % 1000), 'ops' || (g % 50) || '@example.com', 'telemetry.submitted', 'device', 'dev-' || (g % 5000),
              jsonb_build_object('n', g, 'status', 'ok', 'metrics', jsonb_build_object('cpu', g % 100, 'mem', g % 64)),
              ('10.1.' || (g % 250) || '.' || (g % 200 + 1))::inet, 'agent/1.0'
         from generate_series(0, ${Number(process.argv[2] ?? 100000) - 1}) g`, [orgs[0], orgs.slice(1)]);
const t = performance.now();
const r = await sealOnce(pool, { batchSize: 5000, waitMs: 10000, pollMs: 20 });
console.log('sealed', (performance.now() - t) / 1000, r.broken.length);
await pool.query('vacuum analyze audit_logs');
await pool.end();
