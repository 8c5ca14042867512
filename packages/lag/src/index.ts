export * from './types.ts';
export * from './views.ts';
export * from './options.ts';
export * from './cursor.ts';
export * from './histogram.ts';
export { throughput } from './totals.ts';
export * from './format.ts';
export * from './table-views.ts';
