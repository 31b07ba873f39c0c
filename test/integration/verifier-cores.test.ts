import { expect } from 'chai';
import { MIB } from '../../common/challenge/memfill.js';
import { runComputeChallenge, type ComputeResult } from '../../validator/challenges/compute-challenge.js';
import { DEFAULT_MEMORY, walkDeadlineMs } from '../../validator/challenges/memory.js';
import { runMemoryChallenge } from '../../validator/challenges/memory-challenge.js';
import { buildProbe, probePath, requireDocker, startContainer, waitForQuietHost, type TestContainer } from '../fixtures/probe-executors.js';

/**
 * Scores follow what a container delivers, measured against an honest 2-core
 * container on this same host in the same run (docs/verification.md,
 * "Cores"). No figure comes from the validator's own speed: the scenarios
 * differ only in what the container gets.
 *
 * ROUNDS rounds per scenario (POLARISE_CORE_ROUNDS=10 for the figures in the
 * docs); each round is itself best of up to 3 attempts. Ratios are of median
 * throughputs, each against the honest container with the same CPU time: a
 * CPU quota is compared with one honest core, since how far two busy vCPUs
 * scale (1.5–1.75 single-core speeds on this VM, varying from run to run)
 * is the host's, not the verifier's. Bounds leave what was measured under
 * load on this 2-core VM (docs/verification.md).
 */
const ROUNDS = Number(process.env.POLARISE_CORE_ROUNDS ?? 2);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('verifier: claimed cores against real containers (Docker)', function () {
  this.timeout(600_000);
  const containers: TestContainer[] = [];
  const results = new Map<string, ComputeResult[]>();

  before(async () => {
    await requireDocker();
    buildProbe();
  });
  after(async () => {
    await Promise.all(containers.map((c) => c.remove()));
  });
  const container = async (cpus: number): Promise<TestContainer> => {
    const c = await startContainer({ cpus, memory: '512m' });
    containers.push(c);
    // One untimed exec first: the first `docker exec` into a fresh container pays set-up a running allocation has long paid.
    await c.exec([probePath(), 'help'], { type: 'compute', step: 'commit', timeoutMs: 30_000 });
    return c;
  };
  /** quiet: wait for the rest of the host to be idle before each round (not when the scenario itself keeps the cores busy). */
  const rounds = async (name: string, c: TestContainer, claimedCores: number, quiet = true): Promise<ComputeResult[]> => {
    const rs: ComputeResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      if (quiet) await waitForQuietHost();
      rs.push(await runComputeChallenge(c.exec, { probePath: probePath(), claimedCores }));
    }
    results.set(name, rs);
    if (process.env.POLARISE_LOG_ROUNDS) console.log(`      ${name}: ${describe_(rs)}`);
    return rs;
  };
  const describe_ = (rs: ComputeResult[]): string =>
    rs
      .map((r) => `${((r.rates?.throughput ?? 0) / 1e9).toFixed(1)} GMA/s eff ${r.rates?.efficiency?.toFixed(2) ?? '-'} [${r.runs.map((x) => `${x.kind[0]}${Math.round(x.commitMs)}`).join(' ')}]${r.findings.length ? ` ${r.findings.map((f) => f.code).join(',')}` : ''}`)
      .join('; ');
  const throughput = (name: string): number => median(results.get(name)!.map((r) => r.rates?.throughput ?? 0));
  const ratio = (name: string, honest = 'honest 2 cores'): number => throughput(name) / throughput(honest);
  const ratios = (name: string): string =>
    [describe_(results.get(name)!), ...['honest 1 core', 'honest 2 cores'].filter((h) => results.has(h)).map((h) => `vs ${h} ${ratio(name, h).toFixed(2)}`)].join('; ');
  const codes = (rs: ComputeResult[]): string[] => rs.flatMap((r) => r.findings.map((f) => f.code));

  it(`an honest 1-core container passes every check (${ROUNDS} rounds)`, async () => {
    const rs = await rounds('honest 1 core', await container(1), 1);
    expect(codes(rs), describe_(rs)).to.deep.equal([]);
    expect(rs.every((r) => r.passed && r.component > 0)).to.equal(true);
  });

  it(`an honest 2-core container passes every check, the core check included (${ROUNDS} rounds)`, async () => {
    const rs = await rounds('honest 2 cores', await container(2), 2);
    expect(codes(rs), describe_(rs)).to.deep.equal([]);
    expect(rs.every((r) => r.passed)).to.equal(true);
  });

  it('cores at half speed (a busy thread pinned to each): about half the throughput, no "fewer cores" finding', async () => {
    const c = await container(2);
    // Inside the container, one busy thread pinned to each core at the same weight as the probe's: every core runs the probe at half speed, as a slower CPU would.
    const busy = ['sh', '-c', 'taskset -c 0 sh -c "while :; do :; done" & taskset -c 1 sh -c "while :; do :; done" & sleep 86400'];
    await waitForQuietHost();
    void c.exec(busy, { type: 'compute', step: 'commit', timeoutMs: 86_400_000 }).catch(() => undefined);
    const rs = await rounds('half speed', c, 2, false).finally(() => c.remove());
    expect(codes(rs), describe_(rs)).to.not.include('fewer-cores');
    expect(rs.every((r) => r.proofValid && r.component > 0)).to.equal(true);
    // Half of each core: half of what the same two cores give honestly (0.42–0.53 measured: the share a busy loop leaves depends on how the two vCPUs scale).
    expect(ratio('half speed'), ratios('half speed')).to.be.within(0.3, 0.65);
  });

  it('half the cores it claims (2 claimed, a 1-CPU quota): "fewer cores than claimed", at most about half the throughput', async () => {
    const rs = await rounds('half the cores', await container(1), 2);
    expect(rs.every((r) => r.findings.some((f) => f.code === 'fewer-cores')), describe_(rs)).to.equal(true);
    expect(rs.every((r) => r.proofValid && !r.passed && r.component > 0)).to.equal(true);
    // A 1-CPU quota delivers one core, whatever it claims: about an honest core's throughput, and clearly less than two.
    expect(ratio('half the cores', 'honest 1 core'), ratios('half the cores')).to.be.at.most(1.2);
    expect(ratio('half the cores'), ratios('half the cores')).to.be.at.most(0.8);
  });

  it('60 % of the CPU time it claims (2 claimed, a 1.2-CPU quota): about 0.6 of the throughput', async () => {
    const rs = await rounds('60 % of the CPU', await container(1.2), 2);
    expect(rs.every((r) => r.proofValid && r.component > 0), describe_(rs)).to.equal(true);
    // 1.2 CPUs of time: about 1.2 honest cores (1.15–1.25 measured; 0.6 of the 2 claimed), so about one core or more, and clearly less than two.
    expect(ratio('60 % of the CPU', 'honest 1 core'), ratios('60 % of the CPU')).to.be.within(0.9, 1.45);
    expect(ratio('60 % of the CPU'), ratios('60 % of the CPU')).to.be.below(0.95);
  });

  it('an honest memory prover passes inside a 512 MiB container (256 MiB) under the published walk bound', async () => {
    const c = await container(1);
    const r = await runMemoryChallenge(c.exec, {
      probePath: probePath(),
      sizeBytes: 256 * MIB,
      openDeadlineMs: walkDeadlineMs(DEFAULT_MEMORY, 0),
      memoryLimitBytes: 512 * MIB,
    });
    expect(r.findings).to.deep.equal([]);
    expect(r.passed).to.equal(true);
  });
});
