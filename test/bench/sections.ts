// Every section `npm run bench` knows, in report order. A new part of the
// benchmark is a module in test/bench/ exporting a BenchSection, added here.
import type { BenchSection } from './section.ts';
import { endToEndLagSection } from './end-to-end-lag.ts';
import { formatV1V2Section } from './format-v1-v2.ts';
import { insertPathSection } from './insert-path.ts';
import { insertConditionsSection } from './insert-conditions.ts';
import { sealingThroughputSection } from './sealing-throughput.ts';
import { lagViewsSection } from './lag-views.ts';
import { attachInsertSection } from './attach-insert.ts';
import { verifyThroughputSection } from './verify-throughput.ts';

export const SECTIONS: readonly BenchSection[] = [insertPathSection, insertConditionsSection, sealingThroughputSection, formatV1V2Section, endToEndLagSection, lagViewsSection, attachInsertSection, verifyThroughputSection];
