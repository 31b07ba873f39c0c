import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { merkleLeaf, merkleRoot } from '../common/challenge/hash.js';
import { matMulMod, seededMatrix } from '../common/challenge/matrix.js';
import {
  parseComputeCommit,
  planCompute,
  runComputeChallenge,
  verifyComputeOpen,
  verifyWorker,
} from '../validator/challenges/compute.js';
import type { ExecOutcome } from '../validator/challenges/executor.js';
import { buildProbe, localExecutor, probePath } from './fixtures/probe-executors.js';

const outcome = (stdout: string, extra: Partial<ExecOutcome> = {}): ExecOutcome => ({
  exitCode: 0, stdout, stderr: '', samples: [], elapsedMs: 10, timedOut: false, ...extra,
});

function encode(c: Uint32Array, n: number): Buffer {
  const b = Buffer.alloc(3 * n * n);
  for (let x = 0; x < n * n; x++) b.writeUIntLE(c[x]!, 3 * x, 3);
  return b;
}
const rowsRoot = (enc: Buffer, n: number): Buffer =>
  merkleRoot(Array.from({ length: n }, (_, i) => merkleLeaf(enc.subarray(3 * n * i, 3 * n * (i + 1)))));

describe('verifier: compute challenge (local prover)', function () {
  this.timeout(120_000);
  before(() => buildProbe());
  const run = (variant: string, cores: number, n = 512) =>
    runComputeChallenge(localExecutor, { probePath: probePath(variant), claimedCores: cores, deadlineMs: 60_000, expectedCpuSeconds: 0, params: { n } });

  for (const cores of [1, 2])
    it(`an honest prover passes with ${cores} worker(s)`, async () => {
      const r = await run('probe', cores);
      expect(r.findings).to.deep.equal([]);
      expect(r.passed).to.equal(true);
      expect(r.verifiedWorkers).to.equal(cores);
    });

  it('catches a prover that computed only half the rows of C (5 of 5 runs)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await run('probe-cheat-half-rows', 2);
      expect(r.passed).to.equal(false);
      expect(r.findings.join()).to.match(/Freivalds check failed/);
    }
  });

  it('catches a prover that changed a single entry of C (5 of 5 runs)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await run('probe-cheat-one-entry', 1);
      expect(r.passed).to.equal(false);
      expect(r.findings.join()).to.match(/Freivalds check failed/);
    }
  });

  it('Freivalds alone rejects half-garbage and one-entry C in 2000 of 2000 fresh vectors', () => {
    const plan = { ...planCompute(1, { n: 64 }), freivaldsRounds: 1 };
    const seed = Buffer.from(plan.seed, 'hex');
    const good = matMulMod(seededMatrix(seed, 0, 'A', 64), seededMatrix(seed, 0, 'B', 64), 64, plan.modulus);
    expect(verifyWorker(plan, 0, rowsRoot(encode(good, 64), 64), encode(good, 64))).to.deep.equal([]);
    const half = Uint32Array.from(good);
    for (let x = 32 * 64; x < 64 * 64; x++) half[x] = (x * 7919) % plan.modulus;
    const one = Uint32Array.from(good);
    one[17] = (one[17]! + 1) % plan.modulus;
    for (const bad of [half, one]) {
      const enc = encode(bad, 64);
      const root = rowsRoot(enc, 64);
      let caught = 0;
      for (let t = 0; t < 1000; t++) if (verifyWorker(plan, 0, root, enc).length) caught++;
      expect(caught).to.equal(1000);
    }
  });

  it('rejects a revealed C that does not match the commitment, and unreduced entries', () => {
    const plan = planCompute(1, { n: 64 });
    const seed = Buffer.from(plan.seed, 'hex');
    const good = encode(matMulMod(seededMatrix(seed, 0, 'A', 64), seededMatrix(seed, 0, 'B', 64), 64, plan.modulus), 64);
    const other = Buffer.from(good);
    other[5] = other[5]! ^ 1;
    expect(verifyWorker(plan, 0, rowsRoot(good, 64), other).join()).to.match(/does not match the committed Merkle root/);
    const big = Buffer.from(good);
    big.writeUIntLE(0xffffff, 0, 3);
    expect(verifyWorker(plan, 0, rowsRoot(big, 64), big).join()).to.match(/not reduced/);
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
