// Shared by the admin surface's tests: a server with both tokens, and a small
// parser of the Prometheus text format. Not imported by the server.
import { loadConfig } from '@audit-chain/config';
import type { Pool } from '@audit-chain/db';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../server.ts';

export const WRITE_TOKEN = 'test-write-token-7c1e';
export const ADMIN_TOKEN = 'test-admin-token-93fd';
export const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };

export function adminServer(pool: Pool, env: Record<string, string> = {}, sampleIntervalMs = 0): FastifyInstance {
  const config = loadConfig({ AUDIT_CHAIN_API_TOKEN: WRITE_TOKEN, AUDIT_CHAIN_ADMIN_TOKEN: ADMIN_TOKEN, ...env });
  return buildServer({ pool, config, logger: false, adminSampleIntervalMs: sampleIntervalMs });
}

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: MetricSample[];
  types: Map<string, string>;
  help: Map<string, string>;
}

/** The Prometheus text format (0.0.4), as much of it as prom-client writes. */
export function parseExposition(text: string): Exposition {
  const samples: MetricSample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'TYPE' ? types : help).set(meta[2]!, meta[3]!);
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[label[1]!] = label[2]!;
    samples.push({ name: match[1]!, labels, value: match[3] === '+Inf' ? Infinity : Number(match[3]) });
  }
  return { samples, types, help };
}

export function series(exposition: Exposition, name: string): MetricSample[] {
  return exposition.samples.filter((sample) => sample.name === name);
}

export function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  return series(exposition, name).find((sample) => Object.entries(labels).every(([k, v]) => sample.labels[k] === v))?.value;
}
