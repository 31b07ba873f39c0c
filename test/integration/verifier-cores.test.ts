import { expect } from 'chai';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIB } from '../../common/challenge/memfill.js';
import { spawn } from 'node:child_process';
import {
  computeDeadlineMs,
  computeFullMarksMs,
  deadlineSeparatesHalfCores,
  expectedComputeCpuSeconds,
  loadOrCalibrate,
  memoryOpenDeadlineMs,
  type Calibration,
} from '../../validator/challenges/calibration.js';
import { DEFAULT_COMPUTE } from '../../validator/challenges/compute.js';
import { runComputeChallenge, type ComputeResult } from '../../validator/challenges/compute-challenge.js';
import { DEFAULT_MEMORY } from '../../validator/challenges/memory.js';
import { runMemoryChallenge } from '../../validator/challenges/memory-challenge.js';
import { buildProbe, hostBusyCores, probePath, requireDocker, startContainer, waitForQuietHost, type TestContainer } from '../fixtures/probe-executors.js';

/**
 * Rounds per scenario; POLARISE_CORE_ROUNDS=50 reproduces the figures in docs/verification.md.
 *
 * Fairness of the honest-path assertions: the deadline is exactly the
 * production one (loadOrCalibrate on this host, computeDeadlineMs), and the
 * honest containers get the cores they claim: each round starts on a quiet
 * host, and two 1-CPU containers challenged at once are pinned to different
 * cores (--cpuset-cpus 0 and 1) so the scheduler never stacks their threads
 * on one core. The cheater keeps a plain 1-CPU quota (what a miner gives a
 * container) and must miss the deadline every round, quiet host or not.
 */
const ROUNDS = Number(process.env.POLARISE_CORE_ROUNDS ?? 3);
const CACHE = process.env.POLARISE_CALIBRATION_CACHE ?? join(tmpdir(), 'polarise-calibration.json');

describe('verifier: claimed cores against real containers (Docker)', function () {
  this.timeout(600_000);
  let cal: Calibration;
  const containers: TestContainer[] = [];

  before(async () => {
    await requireDocker();
    buildProbe();
    // The calibration is the base of the deadlines: taken under another tenant's load it widens them.
    await waitForQuietHost();
    cal = await loadOrCalibrate({ probePath: probePath(), cachePath: CACHE });
  });
  after(async () => {
    await Promise.all(containers.map((c) => c.remove()));
  });
  const container = async (cpus: number, cpuset?: string): Promise<TestContainer> => {
    const c = await startContainer({ cpus, memory: '512m', cpuset });
    containers.push(c);
    // One untimed exec first: the very first `docker exec` into a fresh container costs
    // runc/containerd set-up that a running allocation has long paid (measured: +0.3–0.9 s
    // when two fresh containers are entered at once). Every timed round after it is counted.
    await c.exec([probePath(), 'help'], { type: 'compute', step: 'commit', timeoutMs: 30_000 });
    return c;
  };
  /** Host load (other tenants of this machine) seen before each honest round, and during it. */
  const loads: number[] = [];
  const during: number[] = [];
  const quiet = async (): Promise<void> => void loads.push(await waitForQuietHost());
  /** Runs a round and records the busy cores of the whole host meanwhile (the containers' own work included). */
  const measured = async <T>(round: Promise<T>): Promise<T> => {
    let done = false;
    const samples: number[] = [];
    const sampler = (async () => {
      while (!done) samples.push(await hostBusyCores(250));
    })();
    const out = await round;
    done = true;
    await sampler;
    during.push(Math.max(0, ...samples));
    return out;
  };
  const challenge = (c: TestContainer, claimedCores: number): Promise<ComputeResult> => {
    const plan = { n: DEFAULT_COMPUTE.n, workers: claimedCores };
    return runComputeChallenge(c.exec, {
      probePath: probePath(),
      claimedCores,
      deadlineMs: computeDeadlineMs(cal, plan),
      fullMarksMs: computeFullMarksMs(cal, plan),
      expectedCpuSeconds: expectedComputeCpuSeconds(cal, plan),
    });
  };
  const summary = (rs: ComputeResult[]): string =>
    rs.map((r) => `${r.attempts.map((a) => Math.round(a.commitMs)).join('+')}/${Math.round(r.deadlineMs)} ms${r.passed ? '' : ` FAIL ${r.findings.map((f) => f.message).join('; ')}`}`).join(', ') +
    ` (busy cores on the host before the rounds: ${loads.splice(0).map((l) => l.toFixed(2)).join(' ')};` +
    ` peak busy cores during them, own work included: ${during.splice(0).map((l) => l.toFixed(2)).join(' ')})`;
  const log = (name: string, rs: ComputeResult[]): void => {
    if (process.env.POLARISE_LOG_ROUNDS)
      console.log(`      ${name}: ${rs.map((r) => r.attempts.map((a) => Math.round(a.commitMs)).join('+')).join(' ')} (full marks ${Math.round(rs[0]!.fullMarksMs)} ms, deadline ${Math.round(rs[0]!.deadlineMs)} ms)`);
  };

  /**
   * Both host cores busy at once. On this VM the two vCPUs do not deliver two
   * single-core speeds together (measured: a 1.06 s commit alone, 1.3–1.8 s
   * for each of two at once), so a deadline from a single-core calibration can
   * be missed by an honest prover, on every retest. That is a grade
   * (compute-too-slow: the component follows the delivered speed), never a
   * zero or a lie: the proofs verify and the component stays well above 0.
   */
  const expectHonestWhenCoresShared = (rs: ComputeResult[]): void => {
    expect(rs.every((r) => r.proofValid && r.verifiedWorkers === r.plan.workers), summary(rs)).to.equal(true);
    expect(rs.every((r) => r.metrics.status !== 'impossible'), summary(rs)).to.equal(true);
    expect(rs.every((r) => r.component >= 0.6), `${summary(rs)}; components ${rs.map((r) => r.component.toFixed(2)).join(' ')}`).to.equal(true);
  };

  it('calibration is cached per machine and probe', async () => {
    const again = await loadOrCalibrate({ probePath: probePath(), cachePath: CACHE });
    expect(again).to.deep.equal(cal);
    expect(cal.computeCpuMs).to.be.greaterThan(0);
    expect(deadlineSeparatesHalfCores(cal, { n: DEFAULT_COMPUTE.n })).to.equal(true);
  });

  it(`an honest 1-core container passes (${ROUNDS} rounds)`, async () => {
    const c = await container(1);
    const rs: ComputeResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await quiet();
      rs.push(await measured(challenge(c, 1)));
    }
    log('honest 1 core', rs);
    expect(rs.every((r) => r.passed), summary(rs)).to.equal(true);
  });

  it(`an honest 2-core container proves its work, graded by its speed (${ROUNDS} rounds)`, async () => {
    const c = await container(2);
    const rs: ComputeResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await quiet();
      rs.push(await measured(challenge(c, 2)));
    }
    log('honest 2 cores', rs);
    expectHonestWhenCoresShared(rs);
  });

  it(`two 1-core containers challenged at once both prove their work, graded by their speed (${ROUNDS} rounds)`, async () => {
    const [a, b] = [await container(1, '0'), await container(1, '1')];
    const rs: ComputeResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await quiet();
      rs.push(...(await measured(Promise.all([challenge(a, 1), challenge(b, 1)]))));
    }
    log('two 1-core containers', rs);
    expectHonestWhenCoresShared(rs);
  });

  it(`an honest 1-core container passes while another process keeps a host core busy (${ROUNDS} rounds)`, async () => {
    const c = await container(1);
    const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    try {
      const rs: ComputeResult[] = [];
      for (let i = 0; i < ROUNDS; i++) rs.push(await challenge(c, 1));
      log('honest 1 core, one host core busy', rs);
      loads.splice(0);
      during.splice(0);
      expect(rs.every((r) => r.passed), summary(rs)).to.equal(true);
    } finally {
      busy.kill('SIGKILL');
    }
  });

  it(`claiming 2 cores on a 1-CPU container misses the deadline every time, after retests (${ROUNDS} rounds)`, async () => {
    const c = await container(1);
    const rs: ComputeResult[] = [];
    for (let i = 0; i < ROUNDS; i++) rs.push(await challenge(c, 2));
    log('claim 2 on 1 CPU', rs);
    loads.splice(0);
    during.splice(0);
    const caught = (r: ComputeResult) => !r.passed && r.attempts.length === 3 && r.findings.some((f) => f.code === 'compute-too-slow');
    expect(rs.every(caught), summary(rs)).to.equal(true);
    // The proof itself was valid: only the clock caught it, and the component follows the speed (about half).
    expect(rs.every((r) => r.proofValid && r.verifiedWorkers === 2)).to.equal(true);
    expect(rs.every((r) => r.component > 0 && r.component < 0.85), rs.map((r) => r.component.toFixed(2)).join(' ')).to.equal(true);
  });

  it('an honest memory prover passes inside a 512 MiB container (256 MiB)', async () => {
    const c = await container(1);
    const r = await runMemoryChallenge(c.exec, {
      probePath: probePath(),
      sizeBytes: 256 * MIB,
      openDeadlineMs: memoryOpenDeadlineMs(cal, { steps: DEFAULT_MEMORY.steps }),
      memoryLimitBytes: 512 * MIB,
    });
    expect(r.findings).to.deep.equal([]);
    expect(r.passed).to.equal(true);
  });
});
