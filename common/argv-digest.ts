/** A digest of a command line for logs: the argv itself may carry secrets. */
import { createHash } from 'node:crypto';

/** SHA-256 (hex) over each argument's length and bytes, so ["a b"] and ["a", "b"] differ. */
export function argvDigest(argv: readonly string[]): string {
  const hash = createHash('sha256');
  for (const arg of argv) {
    const bytes = Buffer.from(arg, 'utf8');
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(bytes.length));
    hash.update(length).update(bytes);
  }
  return hash.digest('hex');
}
