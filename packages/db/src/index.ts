export * from './schema.ts';
export * from './pool.ts';
export * from './migrate.ts';
export * from './embedded.ts';
export * from './errors.ts';
export * from './url.ts';
