/**
 * One run's readings turned into ResourceSamples: cpu_usage between
 * consecutive readings, cumulative CPU since the baseline, and the running
 * peaks the final result reports, and network counters since the baseline.
 */
import { SampleSource, type ResourceSample } from '../../common/gen/polarise/v1/miner.js';
import type { Reading, SourceName } from './sampling/cgroup-reader.js';
import { HostStealMeter } from './sampling/host-steal.js';
import { netDelta } from './sampling/net-dev.js';

const SOURCES: Record<SourceName, SampleSource> = {
  cgroup_v1: SampleSource.SAMPLE_SOURCE_CGROUP_V1,
  cgroup_v2: SampleSource.SAMPLE_SOURCE_CGROUP_V2,
  docker_stats: SampleSource.SAMPLE_SOURCE_DOCKER_STATS,
};

export class SampleSeries {
  peakCpu = 0;
  peakMemory = 0;
  memoryLimit = 0;
  /** Samples made (sent or coalesced). */
  taken = 0;
  private last: Reading;
  private readonly steal = new HostStealMeter();

  constructor(
    /** The baseline reading, taken just before the command starts (t0). */
    readonly base: Reading,
    private readonly source: SourceName,
  ) {
    this.last = base;
    this.track(base);
  }

  get t0(): bigint {
    return this.base.atNs;
  }

  get lastReading(): Reading {
    return this.last;
  }

  /** The sample for a new reading, or undefined for one that is not newer than the last. */
  next(r: Reading): ResourceSample | undefined {
    if (r.atNs <= this.last.atNs) return undefined;
    const prev = this.last;
    const dt = Number(r.atNs - prev.atNs);
    const cpuUsage = Math.max(0, dt > 0 ? (Number(r.cpuNs - prev.cpuNs) / dt) * 100 : 0);
    this.last = r;
    this.taken++;
    this.track(r);
    if (cpuUsage > this.peakCpu) this.peakCpu = cpuUsage;
    // Since the command started: counters read before it are the baseline.
    const net = netDelta(this.base.net, r.net);
    return {
      time: r.time,
      elapsedUs: Math.max(0, Math.round(Number(r.atNs - this.t0) / 1000)),
      cpuUsage,
      cpuTimeNs: this.cpuTimeNs(r),
      memoryUsage: r.memoryUsage,
      memoryLimit: r.memoryLimit,
      memoryPercent: r.memoryLimit > 0 ? (r.memoryUsage / r.memoryLimit) * 100 : 0,
      pids: r.pids,
      netRxBytes: net.rxBytes,
      netTxBytes: net.txBytes,
      netRxPackets: net.rxPackets,
      netTxPackets: net.txPackets,
      source: SOURCES[this.source],
      hostStealPercent: this.steal.percent(),
    };
  }

  /** Counts a reading's memory toward the peaks without making a sample of it. */
  track(r: Reading): void {
    if (r.memoryUsage > this.peakMemory) this.peakMemory = r.memoryUsage;
    if (r.memoryLimit > 0) this.memoryLimit = r.memoryLimit;
  }

  cpuTimeNs(r: Reading): number {
    return Math.max(0, Number(r.cpuNs - this.base.cpuNs));
  }
}
