export * from './canonical.ts';
export * from './seal.ts';
export * from './breaks.ts';
export { InstantFormatError, parseUtcInstant } from './instant.ts';
export type { StoredRow, ContentProblem } from './row-check.ts';
export { checkRowContent, KNOWN_CHECKSUM_VERSIONS } from './row-check.ts';
export { ChainVerifier, VerifyInputError, type ChainStateSnapshot, type ChainVerifierOptions, type CheckedRow, type RowLinks, type VerifyCounts } from './chain-verifier.ts';
export { verifyChain, verifyCheckedChain, type VerifyCheckedChainInput, type VerifyChainInput, type VerifyChainOptions, type VerifyProgress, type VerifyReport } from './verify.ts';
export * from './checkpoint.ts';
export {
  checkCheckpoints,
  KeyringError,
  verifyCheckpointSignature,
  type CheckpointBreak,
  type CheckpointPublicKey,
  type CheckpointVerdict,
} from './checkpoint-verify.ts';
export * from './format-v2/index.ts';
export * from './audit-logs-v2.ts';
