// A checkpoint as recorded in audit_chain_checkpoints: `body` holds the exported
// line (the signed members and `signature`); the `signature` column fills in
// for a body stored without one. What comes out is unverified, like any line.
export function storedCheckpointLine(body: unknown, signature: string): unknown {
  if (body !== null && typeof body === 'object' && !Array.isArray(body) && !('signature' in body)) return { ...body, signature };
  return body;
}
