// Running audit-chain on Citus: what the cluster looks like, distributing
// audit_logs by its chain key, and the operations refused there.
export * from './topology.ts';
export * from './distribute.ts';
export * from './open-writers.ts';
export * from './unsupported.ts';
