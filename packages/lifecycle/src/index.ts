export * from './errors.ts';
export * from './roles.ts';
export * from './erasure/redact.ts';
