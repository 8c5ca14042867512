// Fresh pii_salt values for sealing: 16 bytes each from the CSPRNG, as 32
// lowercase hex digits, drawn from one randomBytes call per 256 salts instead of
// one call per row. Each salt is handed out once.
import { randomBytes } from 'node:crypto';

const SALT_HEX = 32;

/** A source of salts; keep one per sealer (or per batch), never share a returned salt. */
export function saltSource(saltsPerDraw = 256): () => string {
  let pool = '';
  let at = 0;
  return () => {
    if (at >= pool.length) {
      pool = randomBytes((SALT_HEX / 2) * saltsPerDraw).toString('hex');
      at = 0;
    }
    const salt = pool.slice(at, at + SALT_HEX);
    at += SALT_HEX;
    return salt;
  };
}
