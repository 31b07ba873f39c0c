import { expect } from 'chai';
import { ChallengeStatus } from '../../common/gen/polarise/v1/miner.js';
import { buildResult, challengeStatus, type RunFigures } from '../../miner/challenges/challenge-result.js';
import { SampleSeries } from '../../miner/challenges/sample-series.js';
import type { Reading } from '../../miner/challenges/sampling/cgroup-reader.js';

const figures = (over: Partial<RunFigures> = {}): RunFigures => ({
  cancelled: false,
  timedOut: false,
  exitCode: 0,
  stdout: 'done\n',
  stderr: '',
  outputTruncated: false,
  oomKilled: false,
  wallNs: 2e9,
  cpuTimeNs: 1e9,
  peakCpu: 80,
  peakMemory: 64 << 20,
  memoryLimit: 256 << 20,
  sampleCount: 20,
  expectedCpu: 1,
  ...over,
});

describe('challenge result (pure)', () => {
  it('status: cancelled and timed out win over the exit code, then 0 is completed', () => {
    expect(challengeStatus({ cancelled: true, timedOut: true, exitCode: 0 })).to.equal(ChallengeStatus.CHALLENGE_STATUS_CANCELLED);
    expect(challengeStatus({ cancelled: false, timedOut: true, exitCode: 137 })).to.equal(ChallengeStatus.CHALLENGE_STATUS_TIMEOUT);
    expect(challengeStatus({ cancelled: false, timedOut: false, exitCode: 0 })).to.equal(ChallengeStatus.CHALLENGE_STATUS_COMPLETED);
    expect(challengeStatus({ cancelled: false, timedOut: false, exitCode: 3 })).to.equal(ChallengeStatus.CHALLENGE_STATUS_FAILED);
  });

  it('mean CPU is CPU time over wall time; memory percent of the limit; the seed API shape in metrics', () => {
    const r = buildResult(figures());
    expect(r.commandResult).to.deep.include({ status: ChallengeStatus.CHALLENGE_STATUS_COMPLETED, exitCode: 0, output: 'done\n' });
    expect(r.metrics).to.deep.equal({ cpuUsage: 50, memoryUsage: 64 << 20, memoryLimit: 256 << 20, memoryPercent: 25 });
    expect(r.summary).to.deep.include({ meanCpuUsage: 50, peakCpuUsage: 80, wallTimeMs: 2000, cpuTimeNs: 1e9, sampleCount: 20 });
  });

  it('no wall time or no limit gives 0, never NaN', () => {
    const r = buildResult(figures({ wallNs: 0, memoryLimit: 0 }));
    expect(r.metrics!.cpuUsage).to.equal(0);
    expect(r.metrics!.memoryPercent).to.equal(0);
  });
});

describe('sample series (pure)', () => {
  const reading = (ms: number, cpuMs: number, memory = 10): Reading => ({
    atNs: BigInt(ms) * 1_000_000n,
    time: new Date(ms),
    cpuNs: BigInt(cpuMs) * 1_000_000n,
    memoryUsage: memory,
    memoryLimit: 100,
    pids: 2,
  });

  it('cpu_usage between consecutive readings, CPU time since the baseline, peaks kept', () => {
    const s = new SampleSeries(reading(1000, 500), 'cgroup_v1');
    const a = s.next(reading(1100, 550, 40))!;
    expect(a.cpuUsage).to.be.closeTo(50, 1e-9);
    expect(a.elapsedUs).to.equal(100_000);
    expect(a.cpuTimeNs).to.equal(50_000_000);
    expect(a.memoryPercent).to.equal(40);
    const b = s.next(reading(1200, 650, 20))!;
    expect(b.cpuUsage).to.be.closeTo(100, 1e-9);
    expect([s.peakCpu, s.peakMemory, s.memoryLimit, s.taken]).to.deep.equal([b.cpuUsage, 40, 100, 2]);
  });

  it('a reading not newer than the last makes no sample', () => {
    const s = new SampleSeries(reading(1000, 500), 'cgroup_v2');
    expect(s.next(reading(1000, 600))).to.equal(undefined);
    expect(s.taken).to.equal(0);
  });
});
