// The runtime surface: pools, migrations, errors. The drizzle table definitions
// are a separate entry (`@audit-chain/db/schema`): loading drizzle's query
// builder costs a process about 150 MB of heap, which the API, the worker and
// the command line do not need.
export * from './pool.ts';
export * from './migrate.ts';
export * from './embedded.ts';
export * from './errors.ts';
export * from './url.ts';
export * from './sql.ts';
export * from './chain-schema.ts';
