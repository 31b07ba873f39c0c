/**
 * The compute verifier's own checks, without the probe: Freivalds' test and
 * the Merkle commitment on matrices made here, the Wasm SIMD kernels against
 * the plain ones, and malformed probe output turned into findings. The
 * challenge run end to end with the local probe:
 * test/integration/verifier-compute-local-prover.test.ts.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { merkleLeaf, merkleRoot } from '../../common/challenge/hash.js';
import {
  chainMatVec,
  chainProductMod,
  encodeU24,
  matVecMod,
  matrixKey,
  seededMatVec,
  seededMatrix,
  u24RowDot,
} from '../../common/challenge/matrix.js';
import { matVecKernels } from '../../common/challenge/matvec-wasm.js';
import { parseComputeCommit, planCompute, verifyComputeOpen, verifyWorker } from '../../validator/challenges/compute.js';
import type { ExecOutcome } from '../../validator/challenges/executor.js';

const outcome = (stdout: string, extra: Partial<ExecOutcome> = {}): ExecOutcome => ({
  exitCode: 0, stdout, stderr: '', samples: [], elapsedMs: 10, timedOut: false, ...extra,
});

const encode = (c: Uint32Array, _n: number): Buffer => encodeU24(c);
const rowsRoot = (enc: Buffer, n: number): Buffer =>
  merkleRoot(Array.from({ length: n }, (_, i) => merkleLeaf(enc.subarray(3 * n * i, 3 * n * (i + 1)))));

describe('verifier: compute challenge (proof checks and parsing)', () => {
  it('Freivalds alone rejects half-garbage and one-entry C in 2000 of 2000 fresh vectors', () => {
    const plan = { ...planCompute(1, { n: 64 }), freivaldsRounds: 1 };
    const seed = Buffer.from(plan.seed, 'hex');
    const good = chainProductMod(seed, 0, plan.factors, 64, plan.modulus);
    expect(verifyWorker(plan, 0, rowsRoot(encode(good, 64), 64), encode(good, 64))).to.deep.equal([]);
    expect(verifyWorker(plan, 0, rowsRoot(encode(good, 64), 64), encode(good, 64), false)).to.deep.equal([]);
    const half = Uint32Array.from(good);
    for (let x = 32 * 64; x < 64 * 64; x++) half[x] = (x * 7919) % plan.modulus;
    const one = Uint32Array.from(good);
    one[17] = (one[17]! + 1) % plan.modulus;
    for (const bad of [half, one]) {
      const enc = encode(bad, 64);
      const root = rowsRoot(enc, 64);
      let caught = 0;
      for (let t = 0; t < 1000; t++) if (verifyWorker(plan, 0, root, enc, t % 2 === 0).length) caught++;
      expect(caught).to.equal(1000);
    }
  });

  it('the Wasm SIMD kernels equal the plain TypeScript ones (and both equal the naive product)', () => {
    expect(matVecKernels(), 'this Node has WebAssembly SIMD').to.not.equal(null);
    const p = 16777213;
    for (const n of [64, 96, 160, 544]) {
      const seed = randomBytes(32);
      const v = Float64Array.from({ length: n }, () => randomBytes(4).readUInt32LE() % p);
      // Extreme vector entries too: p − 1 everywhere exercises the reduction bound.
      const top = new Float64Array(n).fill(p - 1);
      for (const x of [v, top]) {
        const plain = chainMatVec(seed, 2, 3, n, x, p, false);
        expect(Array.from(chainMatVec(seed, 2, 3, n, x, p, true)), `chain n=${n}`).to.deep.equal(Array.from(plain));
        const m = seededMatrix(seed, 2, 1, n);
        expect(Array.from(seededMatVec(matrixKey(seed, 2, 1), n, x, p)), `seeded mat-vec n=${n}`).to.deep.equal(Array.from(matVecMod(m, x, n, p)));
      }
    }
    // C·r on rows of extreme values (all p − 1), through the verifier's two paths.
    const n = 128;
    const c = new Uint32Array(n * n).fill(p - 1);
    const plan = { ...planCompute(1, { n }), factors: 2 };
    const enc = encode(c, n);
    const words = new Int32Array(enc.buffer.slice(enc.byteOffset, enc.byteOffset + 3 * n));
    const r = new Float64Array(n).fill(p - 1);
    expect(u24RowDot(words, n, r, p)).to.equal(Number((BigInt(p - 1) * BigInt(p - 1) * BigInt(n)) % BigInt(p)));
    const both = [true, false].map((w) => verifyWorker(plan, 0, rowsRoot(enc, n), enc, w).join());
    expect(both[0]).to.match(/Freivalds check failed/);
    expect(both[1]).to.equal(both[0]);
  });

  it('rejects a revealed C that does not match the commitment, and unreduced entries (both kernels)', () => {
    const plan = planCompute(1, { n: 64 });
    const seed = Buffer.from(plan.seed, 'hex');
    const good = encode(chainProductMod(seed, 0, plan.factors, 64, plan.modulus), 64);
    const other = Buffer.from(good);
    other[5] = other[5]! ^ 1;
    const big = Buffer.from(good);
    big.writeUIntLE(0xffffff, 3 * (9 * 64 + 5), 3);
    for (const wasm of [true, false]) {
      expect(verifyWorker(plan, 0, rowsRoot(good, 64), other, wasm).join()).to.match(/does not match the committed Merkle root/);
      expect(verifyWorker(plan, 0, rowsRoot(big, 64), big, wasm).join()).to.match(/C\[9\]\[5\] = 16777215 is not reduced/);
    }
  });

  describe('malformed probe output becomes findings, never a throw', () => {
    const plan = planCompute(2, { n: 64 });
    const root = randomBytes(32).toString('hex');
    const cases: [string, string, RegExp][] = [
      ['garbage', 'hello\n', /not JSON/],
      ['untyped JSON', '[1,2]\n', /not a typed record/],
      ['missing worker', `{"type":"cpu-commit","worker":0,"root":"${root}"}\n`, /no root for worker 1/],
      ['bad root', `{"type":"cpu-commit","worker":0,"root":"xyz"}\n{"type":"cpu-commit","worker":1,"root":"${root}"}\n`, /root must be 32 bytes/],
      ['worker out of range', `{"type":"cpu-commit","worker":7,"root":"${root}"}\n`, /worker must be an integer in \[0, 1\]/],
      ['duplicate', `{"type":"cpu-commit","worker":0,"root":"${root}"}\n{"type":"cpu-commit","worker":0,"root":"${root}"}\n`, /committed twice/],
    ];
    for (const [name, stdout, re] of cases)
      it(`commit: ${name}`, () => expect(parseComputeCommit(plan, outcome(stdout)).findings.join('\n')).to.match(re));

    it('commit: crash and timeout', () => {
      expect(parseComputeCommit(plan, outcome('', { exitCode: 139, stderr: 'Segmentation fault' })).findings.join()).to.match(/exited with code 139: Segmentation fault/);
      expect(parseComputeCommit(plan, outcome('', { exitCode: -1, timedOut: true, elapsedMs: 3000 })).findings.join()).to.match(/killed at the 3000 ms timeout/);
    });

    const roots = [randomBytes(32), randomBytes(32)];
    const opens: [string, string, RegExp][] = [
      ['wrong n', '{"type":"cpu-open","worker":0,"n":32,"encoding":"u24le-base64","c":""}', /n must be an integer in \[64, 64\]/],
      ['bad base64', '{"type":"cpu-open","worker":0,"n":64,"encoding":"u24le-base64","c":"@@@@"}', /not canonical base64|holds/],
      ['short C', `{"type":"cpu-open","worker":0,"n":64,"encoding":"u24le-base64","c":"${Buffer.alloc(30).toString('base64')}"}`, /holds 30 bytes, expected 12288/],
      ['unknown encoding', '{"type":"cpu-open","worker":0,"n":64,"encoding":"zip","c":""}', /unknown encoding/],
      ['foreign character in C', `{"type":"cpu-open","worker":0,"n":64,"encoding":"u24le-base64","c":"${'A'.repeat(100)}*${'A'.repeat(16383 - 100)}"}`, /row 0 of C is not canonical base64/],
      ['escape in C', `{"type":"cpu-open","worker":0,"n":64,"encoding":"u24le-base64","c":"${'A'.repeat(300)}\\u0041${'A'.repeat(16384 - 306)}"}`, /row 1 of C is not canonical base64/],
      ['padding inside C', `{"type":"cpu-open","worker":0,"n":64,"encoding":"u24le-base64","c":"${'A'.repeat(254)}==${'A'.repeat(16128)}"}`, /row 0 of C is not canonical base64/],
      ['truncated line', `{"type":"cpu-open","worker":0,"n":64,"encoding":"u24le-base64","c":"${'A'.repeat(16384)}`, /not JSON/],
      ['header not JSON', `{"type":"cpu-open","worker":0,"n":64,"encoding":u24,"c":"${'A'.repeat(16384)}"}`, /not JSON/],
      ['nothing', '', /worker 0 revealed nothing/],
    ];
    for (const [name, stdout, re] of opens)
      it(`open: ${name}`, () => {
        const v = verifyComputeOpen(plan, roots, outcome(stdout));
        expect(v.passed).to.equal(false);
        expect(v.findings.join('\n')).to.match(re);
      });
  });
});
