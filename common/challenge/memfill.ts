/** The memory challenge's math: block derivation G, parents, the walk (docs/verification.md, "Memory challenge"). */
import { chacha20Stream, chachaDoubleRound } from './chacha.js';
import { sha256 } from './hash.js';

/** Memory challenge definitions; must match validator/probe/memfill.{h,c}. */
export const MEM_BLOCK = 1024;
export const MEM_WORDS = MEM_BLOCK / 4;
export const MEM_LINES = 16;
export const MEM_G_ROUNDS = 2;
export const MEM_WALK_DOUBLE_ROUNDS = 4;
export const MIB = 1024 * 1024;

/** Most lanes (chains filled in parallel) a fill may have. */
export const MEM_MAX_LANES = 64;

/** The first block of `lane`: the seed's ChaCha20 stream from block counter 16·lane. */
export function firstBlock(seed: Uint8Array, lane = 0): Uint32Array {
  const key = sha256(Buffer.from('polarise/mem/v1'), seed);
  return words(chacha20Stream(key, new Uint8Array(12), lane * (MEM_BLOCK / 64), MEM_BLOCK));
}

/** The first block of i's lane. */
export const laneStart = (i: number, laneBlocks: number): number => i - (i % laneBlocks);

/** Little-endian words of a block (copied, so the buffer may be reused). */
export function words(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(4 * i, true);
  return out;
}

export function wordBytes(w: Uint32Array): Buffer {
  const b = Buffer.alloc(w.length * 4);
  for (let i = 0; i < w.length; i++) b.writeUInt32LE(w[i]!, 4 * i);
  return b;
}

/** parent(i) = s + ((word0 | word1 << 32) of L[i-1] mod (i − s)), s the first block of i's lane (one lane: s = 0). */
export function parentIndex(prev: Uint32Array, i: number, laneBlocks = Infinity): number {
  const s = Number.isFinite(laneBlocks) ? laneStart(i, laneBlocks) : 0;
  return s + Number(((BigInt(prev[1]!) << 32n) | BigInt(prev[0]!)) % BigInt(i - s));
}

/** L[i] = G(L[i-1], L[parent(i)], i). */
export function mixBlocks(x: Uint32Array, y: Uint32Array, i: number): Uint32Array {
  const z = new Uint32Array(MEM_WORDS);
  for (let k = 0; k < MEM_WORDS; k++) z[k] = x[k]! ^ y[k]!;
  z[0] = (z[0]! ^ i) >>> 0;
  z[1] = (z[1]! ^ Math.floor(i / 2 ** 32)) >>> 0;
  const out = Uint32Array.from(z);
  const t = new Uint32Array(16);
  for (let r = 0; r < MEM_G_ROUNDS; r++) {
    for (let row = 0; row < 16; row++) chachaDoubleRound(out, 16 * row);
    for (let col = 0; col < 16; col++) {
      for (let k = 0; k < 16; k++) t[k] = out[16 * k + col]!;
      chachaDoubleRound(t);
      for (let k = 0; k < 16; k++) out[16 * k + col] = t[k]!;
    }
  }
  for (let k = 0; k < MEM_WORDS; k++) out[k] = (out[k]! + z[k]!) >>> 0;
  return out;
}

/** The whole fill, lane after lane (for small sizes: golden vectors and tests). */
export function fillBlocks(seed: Uint8Array, nblocks: number, lanes = 1): Uint32Array[] {
  const laneBlocks = nblocks / lanes;
  const blocks: Uint32Array[] = [];
  for (let i = 0; i < nblocks; i++) {
    if (i % laneBlocks === 0) blocks.push(firstBlock(seed, i / laneBlocks));
    else blocks.push(mixBlocks(blocks[i - 1]!, blocks[parentIndex(blocks[i - 1]!, i, laneBlocks)]!, i));
  }
  return blocks;
}

export function walkInit(nonce: Uint8Array, root: Uint8Array): Uint32Array {
  const key = sha256(Buffer.from('polarise/mem/walk/v1'), root, nonce);
  return words(chacha20Stream(key, new Uint8Array(12), 0, 64));
}

export function walkBlockIndex(s: Uint32Array, nblocks: number): number {
  return Number(((BigInt(s[1]!) << 32n) | BigInt(s[0]!)) % BigInt(nblocks));
}

/** One walk step, in place: s ^= line(s[2] mod 16); s += 4 ChaCha double rounds of s. */
export function walkStep(s: Uint32Array, block: Uint32Array): void {
  const line = (s[2]! % MEM_LINES) * 16;
  const x = new Uint32Array(16);
  for (let k = 0; k < 16; k++) x[k] = s[k] = (s[k]! ^ block[line + k]!) >>> 0;
  for (let r = 0; r < MEM_WALK_DOUBLE_ROUNDS; r++) chachaDoubleRound(x);
  for (let k = 0; k < 16; k++) s[k] = (s[k]! + x[k]!) >>> 0;
}
