export * from './errors.ts';
export * from './roles.ts';
export * from './erasure/redact.ts';
export * from './retention/duration.ts';
export * from './retention/retain.ts';
export * from './adoption/plan.ts';
export * from './adoption/adopt.ts';
