/** ChaCha20 and its double round, shared by the memory fill and walk (docs/verification.md, "Memory challenge"). */
import { createCipheriv } from 'node:crypto';

/** RFC 8439 ChaCha20 keystream (OpenSSL's IV = 32-bit LE counter || 96-bit nonce). */
export function chacha20Stream(key: Uint8Array, nonce: Uint8Array, counter: number, length: number): Buffer {
  if (key.length !== 32 || nonce.length !== 12) throw new RangeError('chacha20: key 32 bytes, nonce 12 bytes');
  const iv = Buffer.alloc(16);
  iv.writeUInt32LE(counter >>> 0, 0);
  Buffer.from(nonce).copy(iv, 4);
  const c = createCipheriv('chacha20', key, iv);
  return Buffer.concat([c.update(Buffer.alloc(length)), c.final()]);
}

function qr(s: Uint32Array, o: number, a: number, b: number, c: number, d: number): void {
  a += o; b += o; c += o; d += o;
  s[a] = (s[a]! + s[b]!) >>> 0; let x = s[d]! ^ s[a]!; s[d] = (x << 16) | (x >>> 16);
  s[c] = (s[c]! + s[d]!) >>> 0; x = s[b]! ^ s[c]!; s[b] = (x << 12) | (x >>> 20);
  s[a] = (s[a]! + s[b]!) >>> 0; x = s[d]! ^ s[a]!; s[d] = (x << 8) | (x >>> 24);
  s[c] = (s[c]! + s[d]!) >>> 0; x = s[b]! ^ s[c]!; s[b] = (x << 7) | (x >>> 25);
}

/** The ChaCha double round on the 16 words s[o..o+16), in place. */
export function chachaDoubleRound(s: Uint32Array, o = 0): void {
  qr(s, o, 0, 4, 8, 12); qr(s, o, 1, 5, 9, 13); qr(s, o, 2, 6, 10, 14); qr(s, o, 3, 7, 11, 15);
  qr(s, o, 0, 5, 10, 15); qr(s, o, 1, 6, 11, 12); qr(s, o, 2, 7, 8, 13); qr(s, o, 3, 4, 9, 14);
}
