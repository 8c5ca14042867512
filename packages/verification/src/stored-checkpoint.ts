// A checkpoint as recorded in audit_chain_checkpoints (pure, in @audit-chain/chain so retention shares it).
export { storedCheckpointLine } from '@audit-chain/chain';
