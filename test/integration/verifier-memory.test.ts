import { expect } from 'chai';
import { MIB } from '../../common/challenge/memfill.js';
import { DEFAULT_MEMORY, verifyBlock, verifySegment, planMemory, walkDeadlineMs } from '../../validator/challenges/memory.js';
import { runMemoryChallenge } from '../../validator/challenges/memory-challenge.js';
import { buildProbe, localExecutor, probePath } from '../fixtures/probe-executors.js';

const CHEAT_RUNS = Number(process.env.POLARISE_CHEAT_RUNS ?? 4);

describe('verifier: memory challenge (local prover)', function () {
  this.timeout(240_000);
  /** The production walk deadline: the published step bound (a local call has no overhead worth subtracting). */
  const openDeadlineMs = walkDeadlineMs(DEFAULT_MEMORY, 0);
  before(() => buildProbe());
  const run = (variant: string, mib: number) =>
    runMemoryChallenge(localExecutor, { probePath: probePath(variant), sizeBytes: mib * MIB, openDeadlineMs });

  for (const mib of [64, 128, 256])
    it(`an honest prover passes at ${mib} MiB`, async () => {
      const r = await run('probe', mib);
      expect(r.findings).to.deep.equal([]);
      expect(r.passed).to.equal(true);
      expect(r.component).to.equal(1);
      expect(r.segmentsChecked).to.equal(9);
      expect(r.blocksChecked).to.equal(16);
    });

  it('an honest prover passes with its fill in 2 lanes (one thread per rented core), block checks landing on lane starts too', async () => {
    const r = await runMemoryChallenge(localExecutor, { probePath: probePath('probe'), sizeBytes: 64 * MIB, openDeadlineMs, claimedCores: 2 });
    expect(r.plan.lanes).to.equal(2);
    expect(r.findings).to.deep.equal([]);
    expect(r.component).to.equal(1);
  });

  it('a block checked at a lane start must come from the seed for that lane', async () => {
    const { execFileSync } = await import('node:child_process');
    const plan = planMemory(MIB, { steps: 256, interval: 64 }, 4);
    const p = (...a: string[]) => execFileSync(probePath(), a, { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l));
    const state = `/tmp/polarise-memlanes-${process.pid}`;
    execFileSync('mkdir', ['-p', state]);
    const root = Buffer.from(p('mem', 'commit', '--seed', plan.seed, '--size', String(MIB), '--lanes', '4', '--state', state)[0].root, 'hex');
    p('mem', 'open', '--seed', plan.seed, '--nonce', plan.nonce, '--steps', '256', '--interval', '64', '--state', state);
    // 1024 blocks in 4 lanes of 256: 256 starts lane 1, 257 has its parent in lane 1 only.
    const proofs = p('mem', 'prove', '--seed', plan.seed, '--blocks', '256,257,1023', '--state', state);
    execFileSync('rm', ['-rf', state]);
    for (const [k, i] of [256, 257, 1023].entries()) expect(verifyBlock(plan, root, i, Buffer.from(proofs[k].proof, 'base64')), `block ${i}`).to.equal(undefined);
    // The same proofs read as a single-lane fill do not verify: the lanes are part of what is proven.
    expect(verifyBlock({ ...plan, lanes: 1 }, root, 256, Buffer.from(proofs[0].proof, 'base64'))).to.be.a('string');
  });

  for (const variant of ['probe-cheat-mem-every-other', 'probe-cheat-mem-first-half'])
    it(`catches ${variant.replace('probe-cheat-mem-', 'keep-')} in ${CHEAT_RUNS} of ${CHEAT_RUNS} runs (64 MiB)`, async function () {
      this.timeout(60_000 + CHEAT_RUNS * 5_000);
      let caught = 0;
      const opens: number[] = [];
      const components: number[] = [];
      for (let i = 0; i < CHEAT_RUNS; i++) {
        const r = await run(variant, 64);
        opens.push(Math.round(r.openMs));
        components.push(r.component);
        // Retested (every walk missed), then a finding that names the times.
        if (!r.passed && r.openAttemptsMs.length === 3 && r.findings.some((f) => f.code === 'memory-too-slow')) caught++;
      }
      expect(caught, `best open times ${opens.join(', ')} ms, deadline ${Math.round(openDeadlineMs)} ms`).to.equal(CHEAT_RUNS);
      // Graded, not a cliff, but a prover recomputing half its data earns little of the component.
      for (const c of components) expect(c).to.be.below(0.6);
    });

  it('rejects proofs that do not replay, or blocks not derived from the seed', async () => {
    // A real 1 MiB proof from the probe, then tampered copies.
    const { execFileSync } = await import('node:child_process');
    const plan = planMemory(MIB, { steps: 256, interval: 64 });
    const p = (...a: string[]) => execFileSync(probePath(), a, { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l));
    const state = `/tmp/polarise-memtest-${process.pid}`;
    execFileSync('mkdir', ['-p', state]);
    const root = Buffer.from(p('mem', 'commit', '--seed', plan.seed, '--size', String(MIB), '--state', state)[0].root, 'hex');
    const trace = Buffer.from(p('mem', 'open', '--seed', plan.seed, '--nonce', plan.nonce, '--steps', '256', '--interval', '64', '--state', state)[0].trace_root, 'hex');
    const proofs = p('mem', 'prove', '--seed', plan.seed, '--segments', '0,2', '--blocks', '0,100', '--state', state);
    execFileSync('rm', ['-rf', state]);
    const seg = Buffer.from(proofs[1].proof, 'base64');
    const blk = Buffer.from(proofs[3].proof, 'base64');
    expect(verifySegment(plan, root, trace, 5, 2, seg)).to.equal(undefined);
    expect(verifyBlock(plan, root, 100, blk)).to.equal(undefined);
    const t1 = Buffer.from(seg);
    t1[64 + 3 * 32 + 64 + 3 * 32 + 10] = t1[64 + 3 * 32 + 64 + 3 * 32 + 10]! ^ 1; // first walked block, past both checkpoints and their paths
    expect(verifySegment(plan, root, trace, 5, 2, t1)).to.match(/not the committed one/);
    expect(verifySegment(plan, root, trace, 5, 2, seg.subarray(0, seg.length - 7))).to.match(/truncated/);
    expect(verifySegment(plan, root, trace, 5, 1, seg)).to.match(/not in the committed trace/);
    const t2 = Buffer.from(blk);
    t2[0] = t2[0]! ^ 1;
    expect(verifyBlock(plan, root, 100, t2)).to.match(/not the committed block/);
    expect(verifyBlock({ ...plan, seed: '00'.repeat(32) }, root, 0, Buffer.from(proofs[2].proof, 'base64'))).to.match(/not derived from the seed/);
  });
});
