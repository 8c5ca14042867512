// Turns the insert-path measurements into medians, ratios, target checks and
// Markdown. Pure: no database, no clock.
import type { TargetCheck } from './section.ts';
import { INSERT_VARIANTS, type InsertVariant } from './insert-variants.ts';
import type { InsertWorkload } from './insert-workloads.ts';

export interface InsertMeasurement {
  round: number;
  variantId: string;
  workloadId: string;
  tps: number;
  latencyMs: number;
  /** Client backends active in other databases of the server at mid-run. */
  otherActiveSessions: number;
}

export interface InsertReportInput {
  variants: readonly InsertVariant[];
  workloads: readonly InsertWorkload[];
  measurements: readonly InsertMeasurement[];
  rounds: number;
  seconds: number;
  clients: number;
  threads: number;
  pgbenchVersion: string;
  environmentMarkdown: string;
  exampleScript: string;
}

/** The project's targets (issue 7): the ratios its insert path must reach. */
const PLAIN_RATIO_TARGET = 0.9;
const HOT_RATIO_TARGETS: readonly { variantId: string; times: number }[] = [
  { variantId: 'commit-seal', times: 3 },
  { variantId: 'advisory-lock', times: 5 },
];

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function medianTps(measurements: readonly InsertMeasurement[], variantId: string, workloadId: string): number {
  return median(measurements.filter((m) => m.variantId === variantId && m.workloadId === workloadId).map((m) => m.tps));
}

/**
 * The median over rounds of tps(variant) / tps(baseline). A round runs one
 * workload's variants back to back, so each ratio compares runs taken under the
 * same background load; on a shared machine that is steadier than a ratio of
 * medians taken from different moments.
 */
export function medianRatio(
  measurements: readonly InsertMeasurement[],
  variantId: string,
  baselineId: string,
  workloadId: string,
): number {
  return median(roundRatios(measurements, variantId, baselineId, workloadId));
}

/** tps(variant) / tps(baseline) in each round where both ran. */
export function roundRatios(
  measurements: readonly InsertMeasurement[],
  variantId: string,
  baselineId: string,
  workloadId: string,
): number[] {
  const ratios: number[] = [];
  for (const measurement of measurements) {
    if (measurement.variantId !== variantId || measurement.workloadId !== workloadId) continue;
    const baseline = measurements.find(
      (m) => m.variantId === baselineId && m.workloadId === workloadId && m.round === measurement.round,
    );
    if (baseline) ratios.push(measurement.tps / baseline.tps);
  }
  return ratios;
}

export function insertTargets(input: Pick<InsertReportInput, 'workloads' | 'measurements'>): TargetCheck[] {
  const targets: TargetCheck[] = [];
  for (const workload of input.workloads) {
    const ratios = roundRatios(input.measurements, 'audit-chain', 'plain', workload.id);
    const ratio = median(ratios);
    const spread = ratios.length > 1 ? ` (rounds ${Math.min(...ratios).toFixed(2)} to ${Math.max(...ratios).toFixed(2)})` : '';
    targets.push({
      name: `insert: audit-chain >= ${PLAIN_RATIO_TARGET} x plain, ${workload.label}`,
      met: ratio >= PLAIN_RATIO_TARGET,
      measured: `${ratio.toFixed(2)} x${spread}`,
    });
  }
  for (const workload of input.workloads.filter((w) => w.hotOrganization)) {
    for (const { variantId, times } of HOT_RATIO_TARGETS) {
      const ratio = medianRatio(input.measurements, 'audit-chain', variantId, workload.id);
      targets.push({
        name: `insert: audit-chain >= ${times} x ${variantId}, ${workload.label}`,
        met: ratio >= times,
        measured: `${ratio.toFixed(1)} x`,
      });
    }
  }
  return targets;
}

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function insertMarkdown(input: InsertReportInput): string {
  const { variants, workloads, measurements } = input;
  const header = `| insert variant | ${workloads.map((w) => w.label).join(' | ')} |`;
  const rule = `| --- |${workloads.map(() => ' ---: |').join('')}`;
  const rows = variants.map((variant) => {
    const cells = workloads.map((workload) => {
      const tps = medianTps(measurements, variant.id, workload.id);
      const ratio = medianRatio(measurements, variant.id, 'plain', workload.id);
      return `${number.format(tps)} tps (${ratio.toFixed(2)})`;
    });
    const label = variant.id === 'audit-chain' ? `**${variant.label}**` : variant.label;
    return `| ${label}${variant.informative ? ' *(informative)*' : ''} | ${cells.join(' | ')} |`;
  });

  const roundHeader = `| variant | workload | ${Array.from({ length: input.rounds }, (_, i) => `round ${i + 1}`).join(' | ')} |`;
  const roundRule = `| --- | --- |${Array.from({ length: input.rounds }, () => ' ---: |').join('')}`;
  const roundRows = variants.flatMap((variant) =>
    workloads.map((workload) => {
      const byRound = Array.from({ length: input.rounds }, (_, round) => {
        const found = measurements.find((m) => m.variantId === variant.id && m.workloadId === workload.id && m.round === round);
        return found ? number.format(found.tps) : '-';
      });
      return `| ${variant.id} | ${workload.id} | ${byRound.join(' | ')} |`;
    }),
  );

  const targets = insertTargets(input);
  const busyRuns = measurements.filter((m) => m.otherActiveSessions > 0);
  const busiest = Math.max(0, ...measurements.map((m) => m.otherActiveSessions));

  return [
    '## Insert path',
    '',
    input.environmentMarkdown,
    `- Load: ${input.pgbenchVersion}, \`pgbench --no-vacuum --protocol=prepared --client=${input.clients} ` +
      `--jobs=${input.threads} --time=${input.seconds} --file=<script>\`; ${input.rounds} round(s), ` +
      `${input.seconds} s per run; within a round every workload runs every variant, in an order rotated each round ` +
      '(plain and the project always back to back, which goes first alternating); ' +
      'before each run the table is truncated (so every run starts empty) and a CHECKPOINT is taken.',
    `- Other sessions on the server: ${busyRuns.length} of ${measurements.length} runs saw other active client ` +
      `backends at mid-run (at most ${busiest}).`,
    '',
    'Median transactions per second (one row per transaction) and, in parentheses, the median of the per-round ' +
      'ratios to the plain table. Plain and the project run back to back in every round, so their ratio compares ' +
      "runs under the same background load; the other rows' runs can be most of a round away from plain's, so on a " +
      'busy machine read their ratios to within about 20%:',
    '',
    header,
    rule,
    ...rows,
    '',
    'Targets (issue 7):',
    '',
    ...targets.map((t) => `- ${t.met ? 'PASS' : 'MISS'} ${t.name.replace(/^insert: /, '')}: ${t.measured}`),
    '',
    '### Variants',
    '',
    'Every table is created in one migrated scratch database with `LIKE audit_logs`, so the content columns are the ' +
      "same; the plain table and the competing variants carry the product's index set (PK and the listing index " +
      "`(org_id, occurred_at)`). The project's table is the migrated `audit_logs` itself: its `(org_id, chain_seq)` " +
      'B-tree takes the place of the listing index (per-org listing in chain order), and it adds a BRIN index and ' +
      'the partial chain-link unique index, which pending rows do not enter.',
    '',
    ...variants.map((variant) => `- **${variant.label}** (\`${variant.table}\`): ${variant.notes}`),
    ...notMeasured(variants),
    '',
    'The one-hot-organization autocommit script (the other workloads differ as their names say):',
    '',
    '```',
    input.exampleScript.trim(),
    '```',
    '',
    '### Every round',
    '',
    roundHeader,
    roundRule,
    ...roundRows,
  ].join('\n');
}

function notMeasured(measured: readonly InsertVariant[]): string[] {
  const rest = INSERT_VARIANTS.filter((variant) => !measured.includes(variant));
  if (rest.length === 0) return [];
  return [
    '',
    `Not measured in this run (name them with \`--variants ${rest.map((v) => v.id).join(',')}\`):`,
    '',
    ...rest.map((variant) => `- ${variant.label} (\`${variant.table}\`): ${variant.notes}`),
  ];
}
