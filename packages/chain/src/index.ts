export * from './canonical.ts';
export * from './seal.ts';
