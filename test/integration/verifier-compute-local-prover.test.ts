/**
 * The compute challenge end to end with the probe run locally: honest
 * provers, attempts and retests on a doctored clock, the rates in the unit of
 * compute, and the cheating probe build. The verifier's own checks (Freivalds
 * per row, Merkle paths, Wasm kernels, parsing of the probe's output):
 * test/unit/verifier-compute-checks.test.ts.
 */
import { expect } from 'chai';
import { runComputeChallenge } from '../../validator/challenges/compute-challenge.js';
import { REFERENCE_CORE_RATE } from '../../validator/challenges/compute-rates.js';
import { workPerWorker } from '../../validator/challenges/compute.js';
import type { ChallengeExecutor, ExecOptions } from '../../validator/challenges/executor.js';
import { buildProbe, localExecutor, probePath } from '../fixtures/probe-executors.js';

describe('verifier: compute challenge (local prover)', function () {
  this.timeout(120_000);
  before(() => buildProbe());
  const params = { n: 256, factors: 3 };
  const run = (variant: string, cores: number, exec: ChallengeExecutor = localExecutor, attempts?: number) =>
    runComputeChallenge(exec, { probePath: probePath(variant), claimedCores: cores, params, attempts });
  const proofRuns = (r: Awaited<ReturnType<typeof run>>) => r.runs.filter((x) => x.kind !== 'noop');

  it('an honest prover passes with 1 worker: every opened row verified, a positive rate', async () => {
    const r = await run('probe', 1);
    expect(r.findings).to.deep.equal([]);
    expect(r.passed).to.equal(true);
    expect(r.rates!.throughput).to.be.greaterThan(0);
    expect(r.component).to.equal(Math.min(1, r.rates!.throughput / REFERENCE_CORE_RATE));
    expect(proofRuns(r).every((x) => x.rowsVerified === 49)).to.equal(true);
    expect(r.runs.filter((x) => x.kind === 'noop').length, 'a no-op in every attempt').to.equal(proofRuns(r).length);
  });

  it('with 2 claimed cores every attempt runs a single-worker and an all-workers proof, in random order, all verified', async () => {
    const r = await run('probe', 2);
    expect(r.proofValid, JSON.stringify(r.findings)).to.equal(true);
    const kinds = r.runs.map((x) => x.kind);
    expect(kinds.filter((k) => k === 'all').length).to.equal(kinds.filter((k) => k === 'single').length);
    expect(r.rates!.efficiency).to.be.a('number');
    expect(proofRuns(r).every((x) => x.rowsVerified === 49)).to.equal(true);
  });

  it('an honest prover passes with 2 and 5 factors, and n not a multiple of 128', async () => {
    for (const [n, factors] of [[256, 2], [160, 5], [544, 3]] as const) {
      const r = await runComputeChallenge(localExecutor, { probePath: probePath(), claimedCores: 1, params: { n, factors } });
      expect(r.findings, `n=${n} factors=${factors}`).to.deep.equal([]);
    }
  });

  describe('attempts on a doctored clock', () => {
    /** The local prover with commits (not no-ops) taking `commitMs` on the validator's clock, and the host steal a miner might report. */
    const clocked = (commitMs: number | number[], stealPercent = 0, noopMs = 100): ChallengeExecutor => {
      const times = [commitMs].flat();
      let commits = 0;
      return async (argv: string[], opts: ExecOptions) => {
        const out = await localExecutor(argv, opts);
        const samples = [0, 1, 2].map((i) => ({ elapsedUs: i * 100_000, cpuUsage: 0, cpuTimeNs: 0, memoryUsage: 0, memoryLimit: 0, pids: 1, hostStealPercent: stealPercent }));
        const noop = argv[1] === 'noop';
        const commit = !noop && opts.step === 'commit';
        return { ...out, samples, elapsedMs: noop ? noopMs : commit ? times[commits++ % times.length]! : out.elapsedMs };
      };
    };

    it('stops after 2 attempts when the runs agree; the rate is the work over the time net of the no-op', async () => {
      const r = await run('probe', 1, clocked(1100));
      expect(r.runs.filter((x) => x.kind === 'all')).to.have.length(2);
      expect(r.rates!.overheadMs).to.equal(100);
      expect(r.rates!.throughput).to.be.closeTo(workPerWorker(params) / 1.0, 1);
    });

    it('a slower machine earns less in proportion, never zero, and carries no finding', async () => {
      const fast = await run('probe', 1, clocked(1100));
      const slow = await run('probe', 1, clocked(2100));
      expect(slow.findings).to.deep.equal([]);
      expect(slow.rates!.throughput / fast.rates!.throughput).to.be.closeTo(0.5, 1e-9);
    });

    it('a no-op slower than half a run is subtracted only up to half the run', async () => {
      const r = await run('probe', 1, clocked(1000, 0, 900));
      expect(r.rates!.allNetMs).to.equal(500);
    });

    it('runs that do not agree are retested up to k = 3; steal reported by the miner earns up to 2 more', async () => {
      const spread = [2000, 1500, 1200, 1000, 800];
      const calm = await run('probe', 1, clocked(spread), 3);
      const stolen = await run('probe', 1, clocked(spread, 40), 3);
      expect(calm.runs.filter((x) => x.kind === 'all')).to.have.length(3);
      expect(stolen.runs.filter((x) => x.kind === 'all')).to.have.length(5);
      expect(stolen.findings).to.deep.equal([]);
    });

    it('every commit killed at the published timeout: compute-too-slow, component 0', async () => {
      const killed: ChallengeExecutor = async (argv, opts) => {
        const out = await localExecutor(argv, opts);
        return argv[2] === 'commit' ? { ...out, timedOut: true, exitCode: -1, stdout: '', elapsedMs: opts.timeoutMs } : out;
      };
      const r = await run('probe', 1, killed, 2);
      expect(r.component).to.equal(0);
      expect(r.findings.map((f) => f.code)).to.deep.equal(['compute-too-slow']);
    });
  });

  it('catches a prover that computed only half the rows of C (5 of 5 runs)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await run('probe-cheat-half-rows', 2);
      expect(r.passed).to.equal(false);
      expect(r.component, 'a bad proof earns nothing, however fast').to.equal(0);
      expect(r.findings.map((f) => f.code)).to.include('compute-proof-invalid');
      expect(r.findings.map((f) => f.message).join('\n')).to.match(/Freivalds/);
    }
  });
});
