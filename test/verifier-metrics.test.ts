import { expect } from 'chai';
import type { ExecSample } from '../validator/challenges/executor.js';
import { checkComputeSamples, checkMemorySamples } from '../validator/challenges/metrics-check.js';

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
    expect(r.findings.join()).to.match(/2\.00 CPU-s used, the work needs 4\.00/);
  });

  it('flags doctored samples claiming more CPU than the cores and wall time allow', () => {
    const inflated = samples(2, 2).map((s) => ({ ...s, cpuTimeNs: s.cpuTimeNs * 2, cpuUsage: s.cpuUsage * 2 }));
    const r = checkComputeSamples(inflated, { expectedCpuSeconds: 4, claimedCores: 2, elapsedMs: 2100 });
    expect(r.status).to.equal('mismatch');
    expect(r.findings.join('\n')).to.match(/8\.00 CPU-s in 2\.00 s is more than 2 cores can deliver/);
  });

  it('flags a sampled span longer than the validator measured', () => {
    const r = checkComputeSamples(samples(4, 1), { expectedCpuSeconds: 4, claimedCores: 2, elapsedMs: 2000 });
    expect(r.findings.join()).to.match(/longer than the call took/);
  });

  it('flags one impossible interval and non-monotonic counters', () => {
    const s = samples(2, 1);
    s[5] = { ...s[5]!, cpuTimeNs: s[4]!.cpuTimeNs + 900_000_000 };
    expect(checkComputeSamples(s, { expectedCpuSeconds: 2, claimedCores: 1, elapsedMs: 2100 }).findings.join()).to.match(/interval 5/);
    const back = samples(2, 1);
    back[7] = { ...back[7]!, cpuTimeNs: 0 };
    expect(checkComputeSamples(back, { expectedCpuSeconds: 2, claimedCores: 1, elapsedMs: 2100 }).findings.join()).to.match(/decreases/);
  });

  it('reports no-samples (not a mismatch) for executors without samples', () => {
    expect(checkComputeSamples([], { expectedCpuSeconds: 1, claimedCores: 1, elapsedMs: 1000 }).status).to.equal('no-samples');
    expect(checkMemorySamples([[]], { filledBytes: 1 }).status).to.equal('no-samples');
  });

  it('memory: usage must reach the filled size', () => {
    expect(checkMemorySamples([samples(1, 1, 260 << 20)], { filledBytes: 256 << 20 }).status).to.equal('ok');
    const r = checkMemorySamples([samples(1, 1, 128 << 20)], { filledBytes: 256 << 20 });
    expect(r.status).to.equal('mismatch');
    expect(r.findings.join()).to.match(/peaked at 128\.0 MiB, the filled data is 256\.0 MiB/);
    const over = checkMemorySamples([samples(1, 1, 1 << 30)], { filledBytes: 256 << 20 });
    expect(over.findings.join()).to.match(/above the limit/);
  });
});
