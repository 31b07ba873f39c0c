import { chacha20Stream } from './chacha.js';
import { sha256 } from './hash.js';

/** Matrix entries are the low 24 bits of ChaCha20 words (see validator/probe/matmul.h). */
export const ENTRY_MASK = 0xffffff;
export const MIN_N = 64;
export const MAX_N = 8192;
export const N_MULTIPLE = 32;
/** Largest prime below 2^24: partial sums of 32 products stay exact in doubles. */
export const DEFAULT_MODULUS = 16777213;

export type MatrixTag = 'A' | 'B';

export function matrixKey(seed: Uint8Array, worker: number, tag: MatrixTag): Buffer {
  const w = Buffer.alloc(4);
  w.writeUInt32LE(worker, 0);
  return sha256(Buffer.from('polarise/cpu/v1'), seed, w, Buffer.from(tag));
}

/** All n×n entries, row-major, of a worker's seeded matrix. */
export function seededMatrix(seed: Uint8Array, worker: number, tag: MatrixTag, n: number): Uint32Array {
  const bytes = chacha20Stream(matrixKey(seed, worker, tag), new Uint8Array(12), 0, n * n * 4);
  const m = new Uint32Array(bytes.buffer, bytes.byteOffset, n * n);
  for (let i = 0; i < m.length; i++) m[i] = m[i]! & ENTRY_MASK;
  return m;
}

/** n×n values from the probe's row encoding: little-endian 24-bit. */
export function decodeU24(bytes: Uint8Array, count: number): Uint32Array {
  if (bytes.length !== count * 3) throw new RangeError(`expected ${count * 3} bytes, got ${bytes.length}`);
  const out = new Uint32Array(count);
  for (let x = 0, b = 0; x < count; x++, b += 3) out[x] = bytes[b]! | (bytes[b + 1]! << 8) | (bytes[b + 2]! << 16);
  return out;
}

/** y = M·v mod p for a row-major n×n M with entries < 2^24 and v < p < 2^24. */
export function matVecMod(m: Uint32Array, v: Float64Array, n: number, p: number): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    const row = i * n;
    for (let j = 0; j < n; j += 32) {
      const end = j + 32 < n ? j + 32 : n;
      for (let k = j; k < end; k++) acc += m[row + k]! * v[k]!;
      acc %= p;
    }
    y[i] = acc;
  }
  return y;
}

/** C = A·B mod p, naive (only for small golden vectors and tests). */
export function matMulMod(a: Uint32Array, b: Uint32Array, n: number, p: number): Uint32Array {
  const c = new Uint32Array(n * n);
  const col = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) col[k] = b[k * n + j]!;
    const y = matVecMod(a, col, n, p);
    for (let i = 0; i < n; i++) c[i * n + j] = y[i]!;
  }
  return c;
}
