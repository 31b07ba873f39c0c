import { expect } from 'chai';
import type { ExecSample } from '../../validator/challenges/executor.js';
import { checkComputeSamples, checkMemorySamples } from '../../validator/challenges/metrics-check.js';

/** 10 Hz samples of a container burning `cores` CPUs for `seconds`. */
function samples(seconds: number, cores: number, memory = 64 << 20): ExecSample[] {
  return Array.from({ length: seconds * 10 + 1 }, (_, i) => ({
    elapsedUs: i * 100_000,
    cpuUsage: cores * 100,
    cpuTimeNs: i * 100_000_000 * cores,
    memoryUsage: memory,
    memoryLimit: 512 << 20,
    pids: 3,
  }));
}

describe('verifier: metrics cross-check', () => {
  it('accepts samples that account for the expected CPU time', () => {
    const r = checkComputeSamples(samples(2, 2), { expectedCpuSeconds: 4, claimedCores: 2, elapsedMs: 2100 });
    expect(r.status).to.equal('ok');
    expect(r.findings).to.deep.equal([]);
  });

  it('flags samples showing too little CPU for the work', () => {
    const r = checkComputeSamples(samples(2, 1), { expectedCpuSeconds: 4, claimedCores: 2, elapsedMs: 2100 });
    expect(r.status).to.equal('mismatch');
    expect(r.findings.map((f) => f.message).join()).to.match(/2\.00 CPU-s used, the work needs 4\.00/);
  });

  const codes = (r: { findings: { code: string }[] }): string[] => r.findings.map((f) => f.code);
  const text = (r: { findings: { message: string }[] }): string => r.findings.map((f) => f.message).join('\n');

  it('a miner doubling its CPU figures is a lie, with the numbers', () => {
    const inflated = samples(2, 2).map((s) => ({ ...s, cpuTimeNs: s.cpuTimeNs * 2, cpuUsage: s.cpuUsage * 2 }));
    const r = checkComputeSamples(inflated, { expectedCpuSeconds: 4, claimedCores: 2, elapsedMs: 2100 });
    expect(r.status).to.equal('impossible');
    expect(codes(r)).to.include('samples-impossible');
    expect(text(r)).to.match(/8\.00 CPU-s in a call of 2\.10 s: more than 2 core\(s\) can run/);
    const wall = r.findings.find((f) => /call of/.test(f.message))!;
    expect(wall.figures).to.deep.include({ cpuSeconds: 8, wallSeconds: 2.1, cores: 2 });
  });

  it('a window of samples showing more CPU than the cores is a lie even when the total fits', () => {
    // 1 core for 4 s of wall time, but 1.8 cores' worth packed into one second of samples.
    const s = samples(4, 1).map((x, i) => ({ ...x, cpuTimeNs: i <= 10 ? i * 180_000_000 : 1_800_000_000 + (i - 10) * 60_000_000 }));
    const r = checkComputeSamples(s, { expectedCpuSeconds: 1, claimedCores: 1, elapsedMs: 4100 });
    expect(r.status).to.equal('impossible');
    expect(text(r)).to.match(/in 1\.00 s of samples: more than 1 core/);
  });

  it('honest jitter is not a lie: one late sample and CPU right at the cores', () => {
    const s = samples(2, 1);
    // The sampler was delayed 40 ms between its clock read and its cgroup read once.
    s[5] = { ...s[5]!, cpuTimeNs: s[5]!.cpuTimeNs + 40_000_000 };
    const r = checkComputeSamples(s, { expectedCpuSeconds: 2, claimedCores: 1, elapsedMs: 2050 });
    expect(codes(r)).to.not.include('samples-impossible');
  });

  it('a sampled span longer than the validator measured is a lie', () => {
    const r = checkComputeSamples(samples(4, 1), { expectedCpuSeconds: 4, claimedCores: 2, elapsedMs: 2000 });
    expect(r.status).to.equal('impossible');
    expect(text(r)).to.match(/samples span 4\.00 s, the call took 2\.00 s/);
  });

  it('one interval over the cores is a mismatch; counters going back are a lie', () => {
    const s = samples(2, 1);
    s[5] = { ...s[5]!, cpuUsage: 180 };
    const one = checkComputeSamples(s, { expectedCpuSeconds: 2, claimedCores: 1, elapsedMs: 2100 });
    expect(one.status).to.equal('mismatch');
    expect(text(one)).to.match(/cpu_usage 180\.00 % in one sample/);
    const back = samples(2, 1);
    back[7] = { ...back[7]!, cpuTimeNs: 0 };
    const r = checkComputeSamples(back, { expectedCpuSeconds: 2, claimedCores: 1, elapsedMs: 2100 });
    expect(r.status).to.equal('impossible');
    expect(text(r)).to.match(/decreases/);
  });

  it('memory above the allocated limit is a lie, whatever limit the samples claim', () => {
    const r = checkComputeSamples(samples(2, 1, 600 << 20).map((x) => ({ ...x, memoryLimit: 1 << 30 })), {
      expectedCpuSeconds: 2, claimedCores: 1, elapsedMs: 2100, limitBytes: 512 << 20,
    });
    expect(r.status).to.equal('impossible');
    expect(text(r)).to.match(/memory_usage 600\.0 MiB is above the limit of 512\.0 MiB/);
  });

  it('reports no-samples (not a mismatch) for executors without samples', () => {
    expect(checkComputeSamples([], { expectedCpuSeconds: 1, claimedCores: 1, elapsedMs: 1000 }).status).to.equal('no-samples');
    expect(checkMemorySamples([[]], { filledBytes: 1, claimedCores: 1 }).status).to.equal('no-samples');
  });

  it('memory: usage must reach the filled size', () => {
    expect(checkMemorySamples([samples(1, 1, 260 << 20)], { filledBytes: 256 << 20, claimedCores: 1 }).status).to.equal('ok');
    const r = checkMemorySamples([samples(1, 1, 128 << 20)], { filledBytes: 256 << 20, claimedCores: 1 });
    expect(r.status).to.equal('mismatch');
    expect(r.findings.map((f) => f.message).join()).to.match(/peaked at 128\.0 MiB, the filled data is 256\.0 MiB/);
    const over = checkMemorySamples([samples(1, 1, 1 << 30)], { filledBytes: 256 << 20, claimedCores: 1 });
    expect(over.status).to.equal('impossible');
    expect(over.findings.map((f) => f.message).join()).to.match(/above the limit/);
    const doubled = checkMemorySamples([samples(1, 2, 260 << 20)], { filledBytes: 256 << 20, claimedCores: 1, elapsedMs: [1100] });
    expect(doubled.status, 'a 1-core memory walk showing 2 cores of CPU').to.equal('impossible');
  });
});
