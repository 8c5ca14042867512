// Every section `npm run bench` knows, in report order. A new part of the
// benchmark is a module in test/bench/ exporting a BenchSection, added here.
import type { BenchSection } from './section.ts';
import { insertPathSection } from './insert-path.ts';

export const SECTIONS: readonly BenchSection[] = [insertPathSection];
