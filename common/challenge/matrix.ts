/** The compute challenge's math: seeded matrices, the chain product mod p, mat-vecs for Freivalds (docs/verification.md, "Compute challenge"). */
import { sha256 } from './hash.js';
import { kernelMemory, matVecKernels } from './matvec-wasm.js';

/**
 * The compute challenge's matrices and the verifier's arithmetic
 * (validator/probe/matmul.c is the prover side; both are pinned to
 * test/fixtures/golden/vectors.json).
 *
 * Worker w of a challenge with seed s multiplies a chain of `factors` seeded
 * n×n matrices M_0·M_1·…·M_{f−1} mod p. Matrix m has the key
 * K = SHA-256("polarise/cpu/v2" ‖ s ‖ u32le(w) ‖ u8(m)) read as eight u32le
 * words k0..k7, and entries
 *
 *   M[i][j] = mix32(rowKey(i) ⊕ colKey(j)) >>> 8          (24 bits)
 *   rowKey(i) = mix32(mix32(i ⊕ k0) + k1),  colKey(j) = mix32(mix32(j ⊕ k2) + k3)
 *
 * where mix32 is the "lowbias32" integer finaliser (two multiplications, three
 * xor-shifts: a bijection of 32-bit words with full avalanche). Not a
 * cryptographic PRG, and it need not be: docs/verification.md says why.
 */

// Entries are 24-bit: every product is < 2^48 and 32 of them plus a reduced value stay < 2^53.
export const MIN_N = 64;
export const MAX_N = 8192;
export const N_MULTIPLE = 32;
export const MIN_FACTORS = 2;
export const MAX_FACTORS = 64;
/** Largest prime below 2^24. */
export const DEFAULT_MODULUS = 16777213;
/** Products summed (per accumulator) before a reduction: 32·(2^24−1)·(p−1) + 2p < 2^53. */
const BLOCK = 32;

/** lowbias32 (C. Wellons): x ^= x>>16; x *= 0x7feb352d; x ^= x>>15; x *= 0x846ca68b; x ^= x>>16. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Key words of matrix `index` (0 = A, 1 = first B, …) of worker `worker`. */
export function matrixKey(seed: Uint8Array, worker: number, index: number): Uint32Array {
  const w = Buffer.alloc(5);
  w.writeUInt32LE(worker, 0);
  w.writeUInt8(index, 4);
  const d = sha256(Buffer.from('polarise/cpu/v2'), seed, w);
  const k = new Uint32Array(8);
  for (let i = 0; i < 8; i++) k[i] = d.readUInt32LE(4 * i);
  return k;
}

export const rowKey = (k: Uint32Array, i: number): number => mix32((mix32((i ^ k[0]!) >>> 0) + k[1]!) >>> 0);
export const colKey = (k: Uint32Array, j: number): number => mix32((mix32((j ^ k[2]!) >>> 0) + k[3]!) >>> 0);

export function colKeys(k: Uint32Array, n: number): Int32Array {
  const v = new Int32Array(n);
  for (let j = 0; j < n; j++) v[j] = colKey(k, j);
  return v;
}

/** One row (n entries) of a seeded matrix. */
export function seededRow(k: Uint32Array, n: number, i: number, cols = colKeys(k, n)): Uint32Array {
  const out = new Uint32Array(n);
  const u = rowKey(k, i);
  for (let j = 0; j < n; j++) out[j] = mix32((u ^ cols[j]!) >>> 0) >>> 8;
  return out;
}

/** All n×n entries, row-major (tests and golden vectors; the verifier never materialises them). */
export function seededMatrix(seed: Uint8Array, worker: number, index: number, n: number): Uint32Array {
  const k = matrixKey(seed, worker, index);
  const cols = colKeys(k, n);
  const m = new Uint32Array(n * n);
  for (let i = 0; i < n; i++) m.set(seededRow(k, n, i, cols), i * n);
  return m;
}

/** (x mod p) in [0, p) for an integer |x| < 2^53. */
const canon = (x: number, p: number): number => {
  const r = x % p;
  return r < 0 ? r + p : r;
};

function checkVector(v: Float64Array, n: number): void {
  if (v.length !== n) throw new RangeError(`vector of ${v.length} entries, expected ${n}`);
}

/**
 * y = M·v mod p for the seeded matrix with key k, each row generated on the
 * fly (nothing materialised). v: n integers in [0, p); p < 2^24.
 */
export function seededMatVec(k: Uint32Array, n: number, v: Float64Array, p: number): Float64Array {
  checkVector(v, n);
  if (n % 2) throw new RangeError('n must be even');
  const cols = colKeys(k, n);
  const y = new Float64Array(n);
  const pinv = 1 / p;
  for (let i = 0; i < n; i++) {
    const u = rowKey(k, i);
    let a0 = 0;
    let a1 = 0;
    for (let j = 0; j < n; j += 2 * BLOCK) {
      const end = j + 2 * BLOCK < n ? j + 2 * BLOCK : n;
      for (let c = j; c < end; c += 2) {
        let x = u ^ cols[c]!;
        x ^= x >>> 16;
        x = Math.imul(x, 0x7feb352d);
        x ^= x >>> 15;
        x = Math.imul(x, 0x846ca68b);
        x ^= x >>> 16;
        let z = u ^ cols[c + 1]!;
        z ^= z >>> 16;
        z = Math.imul(z, 0x7feb352d);
        z ^= z >>> 15;
        z = Math.imul(z, 0x846ca68b);
        z ^= z >>> 16;
        a0 += (x >>> 8) * v[c]!;
        a1 += (z >>> 8) * v[c + 1]!;
      }
      // Exact: the products and sums are integers < 2^53; the floor may be off
      // by one, which leaves the accumulator in [−p, 2p), still within budget.
      a0 -= Math.floor(a0 * pinv) * p;
      a1 -= Math.floor(a1 * pinv) * p;
    }
    y[i] = canon(a0 + a1, p);
  }
  return y;
}

/** The probe's row encoding of n×n values < 2^24. */
export function encodeU24(values: Uint32Array): Buffer {
  const b = Buffer.alloc(3 * values.length);
  for (let x = 0; x < values.length; x++) {
    const e = values[x]!;
    b[3 * x] = e & 0xff;
    b[3 * x + 1] = (e >>> 8) & 0xff;
    b[3 * x + 2] = (e >>> 16) & 0xff;
  }
  return b;
}

/** y = M·v mod p for a row-major n×n M with entries < 2^24 and v < p < 2^24 (reference, plain). */
export function matVecMod(m: Uint32Array, v: Float64Array, n: number, p: number): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    const row = i * n;
    for (let j = 0; j < n; j += BLOCK) {
      const end = j + BLOCK < n ? j + BLOCK : n;
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

/** The chain M_0·M_1·…·M_{f−1} mod p of a worker's seeded matrices, naive (tests only). */
export function chainProductMod(seed: Uint8Array, worker: number, factors: number, n: number, p: number): Uint32Array {
  let c = seededMatrix(seed, worker, 0, n);
  for (let m = 1; m < factors; m++) c = matMulMod(c, seededMatrix(seed, worker, m, n), n, p);
  return c;
}

/**
 * M_lowest·(…(M_{f−1}·v)) mod p: the verifier's side of Freivalds, generated
 * mat-vecs (the Wasm SIMD kernel when available, else plain code). lowest = 1
 * leaves M_0 out: the row checks apply its rows one at a time.
 */
export function chainMatVec(seed: Uint8Array, worker: number, factors: number, n: number, v: Float64Array, p: number, useWasm = true, lowest = 0): Float64Array {
  checkVector(v, n);
  const k = useWasm && n % 4 === 0 ? matVecKernels() : null;
  if (!k) {
    let y = v;
    for (let m = factors - 1; m >= lowest; m--) y = seededMatVec(matrixKey(seed, worker, m), n, y, p);
    return y;
  }
  // [column keys: 4n][vector: 8n][vector: 8n] at the bottom of the kernels' memory.
  kernelMemory(k, 20 * n + 64);
  const f64 = new Float64Array(k.memory.buffer);
  const i32 = new Int32Array(k.memory.buffer);
  let src = 4 * n;
  let dst = 12 * n;
  f64.set(v, src / 8);
  for (let m = factors - 1; m >= lowest; m--) {
    const key = matrixKey(seed, worker, m);
    i32.set(colKeys(key, n), 0);
    k.genMatVec(n, 0, src, dst, key[0]!, key[1]!, p, 1 / p);
    [src, dst] = [dst, src];
  }
  return f64.slice(src / 8, src / 8 + n);
}
