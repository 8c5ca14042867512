// The contract between `npm run bench` (run.ts) and each benchmark section. A
// section is one module in test/bench/ that measures one thing and returns its
// part of docs/benchmarks.md; sections are listed in sections.ts.
import type { BenchEnvironment } from './environment.ts';

export interface BenchOptions {
  /** `--quick`: fewer rounds and shorter runs, for a smoke check (under 2 minutes in all). */
  quick: boolean;
  /** `--rounds N` / `--seconds N`: override the section's own choice (for focused reruns). */
  rounds?: number;
  seconds?: number;
  /** `--variants a,b`: measure only these variants, for sections that compare variants. */
  variants?: string[];
  /** `--conditions a,b`: measure only these conditions, for sections that compare conditions. */
  conditions?: string[];
  /** The server to create scratch databases on (DATABASE_URL). */
  serverUrl: string;
  /** The command line as a reader would repeat it, for the report. */
  command: string;
  environment: BenchEnvironment;
  /** Progress lines go to stderr, so stdout carries only the Markdown report. */
  log(line: string): void;
  /** Registers cleanup (dropping a scratch database) that also runs on SIGINT/SIGTERM. */
  onCleanup(cleanup: () => Promise<void>): void;
}

export interface TargetCheck {
  /** e.g. "audit-chain >= 0.9 x plain, one hot org, autocommit". */
  name: string;
  met: boolean;
  /** The measured figure, e.g. "0.94". */
  measured: string;
}

export interface SectionReport {
  /** The section's Markdown, starting with its `## ` heading. */
  markdown: string;
  targets: TargetCheck[];
}

export interface BenchSection {
  /** The name `--only` selects it by, e.g. "insert". */
  id: string;
  title: string;
  run(options: BenchOptions): Promise<SectionReport>;
}
