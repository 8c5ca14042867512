// Shared by the schema tests in this folder: role names, role connections and
// assertions on SQLSTATEs. Nothing here fakes PostgreSQL.
import { spawn } from 'node:child_process';
import type pg from 'pg';
import { expect } from 'vitest';
import { connect } from '../support/database.ts';

export interface Roles {
  writer: string;
  sealer: string;
  admin: string;
}

/** The role names the migrations recorded in this database. */
export async function readRoles(queryable: pg.Pool | pg.Client): Promise<Roles> {
  const result = await queryable.query<{ kind: keyof Roles; role_name: string }>('select kind, role_name from audit_chain_roles');
  const roles = Object.fromEntries(result.rows.map((row) => [row.kind, row.role_name])) as Partial<Roles>;
  if (!roles.writer || !roles.sealer || !roles.admin) throw new Error(`audit_chain_roles is incomplete: got ${JSON.stringify(roles)}`);
  return roles as Roles;
}

/** A dedicated connection acting as `role` (the test user is a superuser, so SET ROLE works for any role). */
export async function connectAs(url: string, role: string): Promise<pg.Client> {
  const client = await connect(url, `audit-chain test as ${role}`);
  await client.query(`set role ${quoteIdent(role)}`);
  return client;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Awaits `work`, which must fail with SQLSTATE `code` (and a message matching `message`, when given). */
export async function expectSqlState(work: Promise<unknown>, code: string, message?: RegExp): Promise<Error & { code: string }> {
  let caught: unknown;
  try {
    await work;
  } catch (error) {
    caught = error;
  }
  if (caught === undefined) throw new Error(`expected SQLSTATE ${code}, but the statement succeeded`);
  const error = caught as Error & { code?: string };
  expect(error.code, `SQLSTATE of "${error.message}"`).toBe(code);
  if (message) expect(error.message).toMatch(message);
  return error as Error & { code: string };
}

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves once `count` callers have arrived, so concurrent work starts together. */
export function barrier(count: number): () => Promise<void> {
  const all = deferred();
  let arrived = 0;
  return () => {
    arrived += 1;
    if (arrived === count) all.resolve();
    return all.promise;
  };
}

/** Polls a condition (never a fixed sleep); fails after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface PsqlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs psql against `url` with `input` on stdin. COPY ... FROM STDIN goes
 * through psql because pg-copy-streams is not a dependency of the project.
 */
export function psql(url: string, args: string[], input: string): Promise<PsqlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', ['--no-psqlrc', '--set=ON_ERROR_STOP=1', '--quiet', '--dbname', url, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A row's content exactly as stored, for "nothing changed" assertions. */
export async function rowSnapshot(queryable: pg.Pool | pg.Client, id: string): Promise<unknown> {
  const result = await queryable.query('select to_jsonb(a) as row from audit_logs a where id = $1', [id]);
  return result.rows[0]?.row;
}

export const CONTENT_INSERT = "insert into audit_logs (org_id, actor_type, action) values ($1, 'user', $2) returning id, chain_seq";
