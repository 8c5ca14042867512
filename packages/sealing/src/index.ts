export * from './errors.ts';
export * from './horizon.ts';
export * from './progress.ts';
export * from './queries.ts';
export * from './rows.ts';
export * from './seal-chain.ts';
export * from './seal-round.ts';
export * from './read-chain.ts';
