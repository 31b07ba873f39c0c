/**
 * The compute verifier's own checks, without the probe: opened rows of
 * products made here (Freivalds per row, Merkle paths, range), the Wasm SIMD
 * kernels against the plain ones, and malformed probe output turned into
 * findings. The challenge run end to end with the local probe:
 * test/integration/verifier-compute-local-prover.test.ts.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { chainMatVec, chainProductMod, matVecMod, matrixKey, seededMatVec, seededMatrix } from '../../common/challenge/matrix.js';
import { matVecKernels } from '../../common/challenge/matvec-wasm.js';
import { parseComputeCommit, pickRows, planCompute, verifyComputeOpen, type ComputePlan } from '../../validator/challenges/compute.js';
import type { ExecOutcome } from '../../validator/challenges/executor.js';
import { openLines, rootOf } from '../support/compute-open.js';

const outcome = (stdout: string, extra: Partial<ExecOutcome> = {}): ExecOutcome => ({
  exitCode: 0, stdout, stderr: '', samples: [], elapsedMs: 10, timedOut: false, ...extra,
});

/** Each worker's honest product C_w of a plan. */
const products = (plan: ComputePlan): Uint32Array[] =>
  Array.from({ length: plan.workers }, (_, w) => chainProductMod(Buffer.from(plan.seed, 'hex'), w, plan.factors, plan.n, plan.modulus));

const verify = (plan: ComputePlan, cs: Uint32Array[], rows: number[], useWasm = true, tamper?: (index: number, row: Buffer) => void) =>
  verifyComputeOpen(plan, cs.map((c) => rootOf(c, plan.n)), rows, outcome(openLines(cs, plan.n, rows, tamper)), useWasm);

describe('verifier: compute challenge (proof checks and parsing)', () => {
  it('accepts the honest rows of a 5-matrix chain on 2 workers, with both kernels', () => {
    const plan = planCompute(2, { n: 64, factors: 5 });
    const cs = products(plan);
    const rows = pickRows(plan);
    expect(rows).to.have.length(plan.rowsOpened);
    for (const wasm of [true, false]) {
      const v = verify(plan, cs, rows, wasm);
      expect(v.findings).to.deep.equal([]);
      expect(v.passed).to.equal(true);
      expect(v.rowsVerified).to.equal(rows.length);
    }
  });

  it('Freivalds per row rejects a wrong row whenever it is opened: one entry off, 1000 of 1000 fresh vectors', () => {
    const plan = planCompute(1, { n: 64, factors: 3 });
    const cs = products(plan);
    cs[0]![17 * 64 + 5] = (cs[0]![17 * 64 + 5]! + 1) % plan.modulus;
    let caught = 0;
    for (let t = 0; t < 1000; t++) if (verify(plan, cs, [3, 17, 40], t % 2 === 0).findings.some((f) => /row 17 of C is not row 17 of M0·M1·M2 .*Freivalds/.test(f))) caught++;
    expect(caught).to.equal(1000);
    expect(verify(plan, cs, [3, 40]).passed, 'a wrong row that is not opened is not seen: the bound is over rows opened').to.equal(true);
  });

  it('a prover that skipped half the rows is caught by 49 opened rows (200 of 200 draws)', () => {
    const plan = planCompute(2, { n: 64, factors: 2 });
    const cs = products(plan);
    for (const c of cs) for (let x = 32 * 64; x < 64 * 64; x++) c[x] = (x * 7919) % plan.modulus;
    let caught = 0;
    for (let t = 0; t < 200; t++) if (!verify(plan, cs, pickRows(plan)).passed) caught++;
    expect(caught).to.equal(200);
  });

  it('rejects a row that does not match its root, unreduced entries, missing and unasked rows', () => {
    const plan = planCompute(1, { n: 64, factors: 2 });
    const cs = products(plan);
    expect(verify(plan, cs, [9], true, (_, row) => void (row[5] = row[5]! ^ 1)).findings.join()).to.match(/row 9 does not match the committed Merkle root/);
    const big = products(plan);
    big[0]![9 * 64 + 5] = 0xffffff;
    expect(verify(plan, big, [9]).findings.join()).to.match(/C\[9\]\[5\] = 16777215 is not reduced/);
    const roots = cs.map((c) => rootOf(c, 64));
    expect(verifyComputeOpen(plan, roots, [4, 9], outcome(openLines(cs, 64, [9]))).findings.join()).to.match(/row 4 was not opened/);
    expect(verifyComputeOpen(plan, roots, [9], outcome(openLines(cs, 64, [9, 10]))).findings.join()).to.match(/row 10 was not asked for/);
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
    const row = (fields: Record<string, unknown>): string => JSON.stringify({ type: 'cpu-row', index: 3, worker: 0, row: 3, c: Buffer.alloc(192).toString('base64'), path: Buffer.alloc(192).toString('base64'), ...fields });
    const opens: [string, string, RegExp][] = [
      ['index out of range', row({ index: 128 }), /index must be an integer in \[0, 127\]/],
      ['bad base64', row({ c: '@@@@' }), /c is not canonical base64 of 192 bytes/],
      ['short row', row({ c: Buffer.alloc(30).toString('base64') }), /c is not canonical base64 of 192 bytes/],
      ['whitespace inside base64', row({ c: `${'A'.repeat(128)} ${'A'.repeat(127)}` }), /c is not canonical base64/],
      ['short path', row({ path: Buffer.alloc(32).toString('base64') }), /path is not canonical base64 of 192 bytes/],
      ['truncated line', row({}).slice(0, 100), /not JSON/],
      ['nothing', '', /row 3 was not opened/],
    ];
    for (const [name, stdout, re] of opens)
      it(`open: ${name}`, () => {
        const v = verifyComputeOpen(plan, roots, [3], outcome(stdout));
        expect(v.passed).to.equal(false);
        expect(v.findings.join('\n')).to.match(re);
      });
  });
});
