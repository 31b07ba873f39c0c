/** Made-up but realistic round results for the validator's store, report and live view tests. */
import type { ChallengeRecord, MinerRoundResult, Phase, SampleRecord } from '../../validator/round-types.js';

const MiB = 1024 * 1024;

/** `count` samples, one every 200 ms: CPU ramping to `cpuPercent`, memory filling to `memoryBytes`. */
export function samples(phase: Phase, count: number, cpuPercent: number, memoryBytes: number): SampleRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const ramp = Math.min(1, (i + 1) / Math.max(1, count / 2));
    return {
      phase,
      elapsedUs: (i + 1) * 200_000,
      cpuUsage: cpuPercent * ramp,
      cpuTimeNs: Math.round(((i + 1) * 200_000_000 * cpuPercent) / 100),
      memoryUsage: Math.round(memoryBytes * ramp),
      memoryLimit: 512 * MiB,
      pids: 3 + (i % 2),
    };
  });
}

export function challenge(kind: ChallengeRecord['kind'], step: ChallengeRecord['step'], passed: boolean, extra: Partial<ChallengeRecord> = {}): ChallengeRecord {
  const phase = `${kind}-${step}` as Phase;
  return {
    kind,
    step,
    passed,
    elapsedMs: 1234.5,
    deadlineMs: 2000,
    findings: [],
    details: { n: 256, seedPrefix: 'a1b2c3', nested: { rate: 1.5 } },
    samples: samples(phase, 8, kind === 'compute' ? 195 : 40, kind === 'memory' ? 256 * MiB : 20 * MiB),
    ...extra,
  };
}

export function minerRound(miner: string, roundScore: number, extra: Partial<MinerRoundResult> = {}): MinerRoundResult {
  return {
    miner,
    address: `127.0.0.1:${8443 + miner.length}`,
    startedAt: new Date('2025-01-02T03:04:05.000Z'),
    finishedAt: new Date('2025-01-02T03:04:35.500Z'),
    claimed: { cpuCount: 2, memoryBytes: 512 * MiB },
    components: { compute: roundScore, memory: roundScore, rental: 1, metrics: roundScore },
    roundScore,
    findings: [],
    challenges: [
      challenge('compute', 'commit', true),
      challenge('compute', 'open', true),
      challenge('memory', 'commit', true),
      challenge('memory', 'open', roundScore > 0.5),
    ],
    // What a 2-CPU offer proved: the compute component's share of two reference cores, and the memory when its proof held.
    capacity: { offeredCpus: 2, freeCpus: 2, offeredMemoryBytes: 4096 * MiB, freeMemoryBytes: 4096 * MiB, rentedCpus: 2, provenCores: 2 * roundScore, provenMemoryBytes: roundScore > 0.5 ? 256 * MiB : 0 },
    ...extra,
  };
}
