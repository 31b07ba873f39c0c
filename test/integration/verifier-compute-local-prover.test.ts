/**
 * The compute challenge end to end with the probe run locally: honest provers,
 * retests on a slow clock, and the cheating probe builds. The verifier's own
 * checks (Freivalds, Merkle, Wasm kernels, parsing of the probe's output):
 * test/unit/verifier-compute-checks.test.ts.
 */
import { expect } from 'chai';
import { runComputeChallenge } from '../../validator/challenges/compute-challenge.js';
import type { ExecOptions } from '../../validator/challenges/executor.js';
import { buildProbe, localExecutor, probePath } from '../fixtures/probe-executors.js';

describe('verifier: compute challenge (local prover)', function () {
  this.timeout(120_000);
  before(() => buildProbe());
  const run = (variant: string, cores: number, n = 512, factors = 3) =>
    runComputeChallenge(localExecutor, {
      probePath: probePath(variant), claimedCores: cores, deadlineMs: 60_000, fullMarksMs: 60_000, expectedCpuSeconds: 0, params: { n, factors },
    });
  const messages = (r: { findings: { message: string }[] }): string => r.findings.map((f) => f.message).join('\n');

  for (const cores of [1, 2])
    it(`an honest prover passes with ${cores} worker(s)`, async () => {
      const r = await run('probe', cores);
      expect(r.findings).to.deep.equal([]);
      expect(r.passed).to.equal(true);
      expect(r.component).to.equal(1);
      expect(r.attempts).to.have.length(1);
      expect(r.verifiedWorkers).to.equal(cores);
    });

  it('an honest prover passes with 2 and 4 factors, and n not a multiple of 128', async () => {
    for (const [n, factors] of [[256, 2], [160, 4], [544, 3]] as const) {
      const r = await run('probe', 1, n, factors);
      expect(r.findings, `n=${n} factors=${factors}`).to.deep.equal([]);
    }
  });

  describe('retests (best of k)', () => {
    /** The local prover, made to look slow on the validator's clock, with the host steal a miner might report. */
    const slowed = (stealPercent: number) => async (argv: string[], opts: ExecOptions) => {
      const out = await localExecutor(argv, opts);
      const samples = [0, 1, 2].map((i) => ({ elapsedUs: i * 100_000, cpuUsage: 0, cpuTimeNs: 0, memoryUsage: 0, memoryLimit: 0, pids: 1, hostStealPercent: stealPercent }));
      return { ...out, samples, elapsedMs: opts.step === 'commit' ? 5_000 : out.elapsedMs };
    };
    const runSlow = (stealPercent: number) =>
      runComputeChallenge(slowed(stealPercent), { probePath: probePath(), claimedCores: 1, deadlineMs: 2_000, fullMarksMs: 1_000, expectedCpuSeconds: 0, params: { n: 256, factors: 2 } });

    it('a slow commit is retested k = 3 times, then graded with the finding, never zeroed', async () => {
      const r = await runSlow(0);
      expect(r.attempts).to.have.length(3);
      expect(r.passed).to.equal(false);
      expect(r.proofValid).to.equal(true);
      expect(r.component).to.equal(0.2);
      expect(r.findings.map((f) => f.code)).to.deep.equal(['compute-too-slow']);
      expect(r.findings[0]!.figures).to.deep.include({ bestMs: 5000, deadlineMs: 2000, attempts: 3 });
    });

    it('steal reported by the miner earns up to 2 more retests, never a pass', async () => {
      const r = await runSlow(40);
      expect(r.attempts).to.have.length(5);
      expect(r.passed).to.equal(false);
      expect(r.component).to.equal(0.2);
    });
  });

  it('catches a prover that computed only half the rows of C (5 of 5 runs)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await run('probe-cheat-half-rows', 2);
      expect(r.passed).to.equal(false);
      expect(r.component, 'a bad proof earns nothing, however fast').to.equal(0);
      expect(r.findings.map((f) => f.code)).to.include('compute-proof-invalid');
      expect(messages(r)).to.match(/Freivalds check failed/);
    }
  });

  it('catches a prover that changed a single entry of C (5 of 5 runs)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await run('probe-cheat-one-entry', 1);
      expect(r.passed).to.equal(false);
      expect(r.component).to.equal(0);
      expect(messages(r)).to.match(/Freivalds check failed/);
    }
  });
});
