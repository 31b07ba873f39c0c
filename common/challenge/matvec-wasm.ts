/**
 * The verifier's hot loop as a tiny WebAssembly SIMD module, assembled here
 * from TypeScript (no toolchain, no dependency). It computes exactly what the
 * plain TypeScript in matrix.ts computes (seededMatVec);
 * test/unit/verifier-compute-checks.test.ts checks the two against each other, and the
 * verifier falls back to the plain code when the runtime has no Wasm SIMD.
 *
 *   genMatVec(n, cols, v, y, u0, k1, p, pinv): y = M·v mod p for the seeded
 *     matrix whose row keys are mix32(mix32(i ⊕ u0) + k1) and whose column keys
 *     are the n i32 at `cols`; v, y: n f64 at byte offsets v, y.
 *
 * Arithmetic: f64x2 lanes, products < 2^48, 32 per lane between reductions
 * a − floor(a·pinv)·p (exact integers < 2^53, as in matrix.ts).
 */

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;

function uleb(x: number): number[] {
  const out: number[] = [];
  do {
    let b = x & 0x7f;
    x >>>= 7;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}

function sleb(x: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = x & 0x7f;
    x >>= 7;
    if ((x === 0 && !(b & 0x40)) || (x === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];

/** Instruction encoders (core and SIMD opcodes used below). */
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (d: number) => [0x0c, ...uleb(d)],
  brIf: (d: number) => [0x0d, ...uleb(d)],
  call: (f: number) => [0x10, ...uleb(f)],
  get: (l: number) => [0x20, ...uleb(l)],
  set: (l: number) => [0x21, ...uleb(l)],
  tee: (l: number) => [0x22, ...uleb(l)],
  f64Load: (offset = 0) => [0x2b, 3, ...uleb(offset)],
  f64Store: [0x39, 3, 0],
  i32Const: (x: number) => [0x41, ...sleb(x | 0)],
  f64Const: (x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(x);
    return [0x44, ...b];
  },
  i32LtU: [0x49],
  i32GeU: [0x4f],
  f64Lt: [0x63],
  f64Ge: [0x66],
  i32Add: [0x6a],
  i32Mul: [0x6c],
  i32Xor: [0x73],
  i32ShrU: [0x76],
  f64Floor: [0x9c],
  f64Add: [0xa0],
  f64Sub: [0xa1],
  f64Mul: [0xa2],
  select: [0x1b],
  // SIMD (0xfd prefix)
  v128Load: (offset = 0) => [0xfd, ...uleb(0x00), 0, ...uleb(offset)],
  v128Const: (bytes: number[]) => [0xfd, ...uleb(0x0c), ...bytes],
  shuffle: (lanes: number[]) => [0xfd, ...uleb(0x0d), ...lanes],
  i32x4Splat: [0xfd, ...uleb(0x11)],
  f64x2Splat: [0xfd, ...uleb(0x14)],
  f64x2Lane: (l: number) => [0xfd, ...uleb(0x21), l],
  v128Xor: [0xfd, ...uleb(0x51)],
  f64x2Floor: [0xfd, ...uleb(0x75)],
  i32x4ShrU: [0xfd, ...uleb(0xad)],
  i32x4Mul: [0xfd, ...uleb(0xb5)],
  f64x2Add: [0xfd, ...uleb(0xf0)],
  f64x2Sub: [0xfd, ...uleb(0xf1)],
  f64x2Mul: [0xfd, ...uleb(0xf2)],
  f64x2FromLowI32: [0xfd, ...uleb(0xfe)],
};

const MIX1 = 0x7feb352d;
const MIX2 = 0x846ca68b | 0;
/** Lanes 2 and 3 of an i32x4 moved to lanes 0 and 1. */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];

/** x ^= x >>> s on the value in local l (scalar or i32x4). */
const xorShift = (l: number, s: number, simd: boolean): number[] => [
  ...op.get(l), ...op.get(l), ...op.i32Const(s), ...(simd ? op.i32x4ShrU : op.i32ShrU), ...(simd ? op.v128Xor : op.i32Xor), ...op.set(l),
];

/** a ← a − floor(a·pinv)·p for the f64x2 in local a. */
const reduce2 = (a: number, pv: number, piv: number): number[] => [
  ...op.get(a), ...op.get(a), ...op.get(piv), ...op.f64x2Mul, ...op.f64x2Floor, ...op.get(pv), ...op.f64x2Mul, ...op.f64x2Sub, ...op.set(a),
];

/** Stores canon(lanes of a and b summed) at f64 address local addr; uses f64 local s. */
const storeCanon = (addr: number, a: number, b: number, s: number, p: number, pinv: number): number[] => [
  ...op.get(a), ...op.f64x2Lane(0), ...op.get(a), ...op.f64x2Lane(1), ...op.f64Add,
  ...op.get(b), ...op.f64x2Lane(0), ...op.f64Add, ...op.get(b), ...op.f64x2Lane(1), ...op.f64Add, ...op.set(s),
  // s − floor(s·pinv)·p ∈ [−p, 2p), then one conditional step either way.
  ...op.get(s), ...op.get(s), ...op.get(pinv), ...op.f64Mul, ...op.f64Floor, ...op.get(p), ...op.f64Mul, ...op.f64Sub, ...op.set(s),
  // select(a, b, c) = c ? a : b
  ...op.get(s), ...op.get(p), ...op.f64Add, ...op.get(s), ...op.get(s), ...op.f64Const(0), ...op.f64Lt, ...op.select, ...op.set(s),
  ...op.get(s), ...op.get(p), ...op.f64Sub, ...op.get(s), ...op.get(s), ...op.get(p), ...op.f64Ge, ...op.select, ...op.set(s),
  ...op.get(addr), ...op.get(s), ...op.f64Store,
];

/** func 0: mix32(x) → i32. */
function mixFunc(): number[] {
  const x = 0;
  const body = [
    ...xorShift(x, 16, false),
    ...op.get(x), ...op.i32Const(MIX1), ...op.i32Mul, ...op.set(x),
    ...xorShift(x, 15, false),
    ...op.get(x), ...op.i32Const(MIX2), ...op.i32Mul, ...op.set(x),
    ...xorShift(x, 16, false),
    ...op.get(x),
    ...op.end,
  ];
  return [...vec([]), ...body];
}

/** func 1: genMatVec(n, cols, v, y, u0, k1, p, pinv). */
function genFunc(): number[] {
  // params 0..7
  const [n, cols, v, y, u0, k1, p, pinv] = [0, 1, 2, 3, 4, 5, 6, 7];
  // locals: i32 i, j, end, yaddr | v128 u, x, a, b, pv, piv, c1, c2 | f64 s
  const [i, j, end, yaddr] = [8, 9, 10, 11];
  const [u, x, a, b, pv, piv, c1, c2] = [12, 13, 14, 15, 16, 17, 18, 19];
  const s = 20;
  const locals = vec([[...uleb(4), I32], [...uleb(8), V128], [...uleb(1), F64]]);
  const zero = op.v128Const(new Array(16).fill(0));
  const body = [
    ...op.get(p), ...op.f64x2Splat, ...op.set(pv),
    ...op.get(pinv), ...op.f64x2Splat, ...op.set(piv),
    ...op.i32Const(MIX1), ...op.i32x4Splat, ...op.set(c1),
    ...op.i32Const(MIX2), ...op.i32x4Splat, ...op.set(c2),
    ...op.i32Const(0), ...op.set(i),
    ...op.block, ...op.loop, // rows
    ...op.get(i), ...op.get(n), ...op.i32GeU, ...op.brIf(1),
    // u = splat(mix(mix(i ^ u0) + k1))
    ...op.get(i), ...op.get(u0), ...op.i32Xor, ...op.call(0), ...op.get(k1), ...op.i32Add, ...op.call(0), ...op.i32x4Splat, ...op.set(u),
    ...zero, ...op.set(a), ...zero, ...op.set(b),
    ...op.i32Const(0), ...op.set(j),
    ...op.block, ...op.loop, // blocks of ≤ 128 columns
    ...op.get(j), ...op.get(n), ...op.i32GeU, ...op.brIf(1),
    // end = min(j + 128, n)
    ...op.get(j), ...op.i32Const(128), ...op.i32Add, ...op.tee(end), ...op.get(n), ...op.get(end), ...op.get(n), ...op.i32LtU, ...op.select, ...op.set(end),
    ...op.loop, // four columns per step
    ...op.get(cols), ...op.get(j), ...op.i32Const(2), ...[0x74], ...op.i32Add, ...op.v128Load(), ...op.get(u), ...op.v128Xor, ...op.set(x),
    ...xorShift(x, 16, true),
    ...op.get(x), ...op.get(c1), ...op.i32x4Mul, ...op.set(x),
    ...xorShift(x, 15, true),
    ...op.get(x), ...op.get(c2), ...op.i32x4Mul, ...op.set(x),
    ...xorShift(x, 16, true),
    ...op.get(x), ...op.i32Const(8), ...op.i32x4ShrU, ...op.set(x),
    // a += f64(x[0..1]) · v[j..j+1]; b += f64(x[2..3]) · v[j+2..j+3]
    ...op.get(a), ...op.get(x), ...op.f64x2FromLowI32,
    ...op.get(v), ...op.get(j), ...op.i32Const(3), ...[0x74], ...op.i32Add, ...op.v128Load(), ...op.f64x2Mul, ...op.f64x2Add, ...op.set(a),
    ...op.get(b), ...op.get(x), ...op.get(x), ...op.shuffle(HIGH_HALF), ...op.f64x2FromLowI32,
    ...op.get(v), ...op.get(j), ...op.i32Const(3), ...[0x74], ...op.i32Add, ...op.v128Load(16), ...op.f64x2Mul, ...op.f64x2Add, ...op.set(b),
    ...op.get(j), ...op.i32Const(4), ...op.i32Add, ...op.tee(j), ...op.get(end), ...op.i32LtU, ...op.brIf(0),
    ...op.end,
    ...reduce2(a, pv, piv),
    ...reduce2(b, pv, piv),
    ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(y), ...op.get(i), ...op.i32Const(3), ...[0x74], ...op.i32Add, ...op.set(yaddr),
    ...storeCanon(yaddr, a, b, s, p, pinv),
    ...op.get(i), ...op.i32Const(1), ...op.i32Add, ...op.set(i),
    ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ];
  return [...locals, ...body];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const types = vec([
    [0x60, ...vec([[I32]]), ...vec([[I32]])],
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [F64], [F64]]), ...vec([])],
  ]);
  const funcs = vec([[0], [1]]);
  const memory = vec([[0x00, ...uleb(1)]]);
  const exports = vec([
    [...name('memory'), 0x02, 0],
    [...name('genMatVec'), 0x00, 1],
  ]);
  const code = vec([mixFunc(), genFunc()].map((f) => [...uleb(f.length), ...f]));
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types), ...section(3, funcs), ...section(5, memory), ...section(7, exports), ...section(10, code),
  ]);
}

export interface MatVecKernels {
  memory: WebAssembly.Memory;
  genMatVec(n: number, cols: number, v: number, y: number, u0: number, k1: number, p: number, pinv: number): void;
}

let cached: MatVecKernels | null | undefined;

/** The compiled kernels, or null when this runtime has no WebAssembly SIMD (or POLARISE_NO_WASM is set). */
export function matVecKernels(): MatVecKernels | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.env.POLARISE_NO_WASM) return cached;
  try {
    const mod = new WebAssembly.Module(moduleBytes() as Uint8Array<ArrayBuffer>);
    cached = new WebAssembly.Instance(mod).exports as unknown as MatVecKernels;
  } catch {
    cached = null;
  }
  return cached;
}

/** Makes the kernels' memory at least `bytes` long; returns a Buffer view of all of it. */
export function kernelMemory(k: MatVecKernels, bytes: number): Buffer {
  const page = 65536;
  const have = k.memory.buffer.byteLength;
  if (have < bytes) k.memory.grow(Math.ceil((bytes - have) / page));
  return Buffer.from(k.memory.buffer);
}
