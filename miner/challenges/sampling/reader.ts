/** The one interface every sampler of a container's counters implements (cgroup files, Docker stats). */
import type { NetCounters } from './net-dev.js';

export type { NetCounters } from './net-dev.js';

/** One reading of a container's counters. */
export interface Reading {
  /** Monotonic time of the read (process.hrtime.bigint()). */
  atNs: bigint;
  /** Wall-clock time of the read. */
  time: Date;
  /** Cumulative CPU nanoseconds the container has used. */
  cpuNs: bigint;
  /** Bytes in use, without inactive file cache. */
  memoryUsage: number;
  /** The memory limit in bytes (the host's memory when unlimited). */
  memoryLimit: number;
  /** Processes and threads. */
  pids: number;
  /** OOM kills in the container's memory cgroup so far (undefined when unknown). */
  oomKills?: number;
  /** Cumulative network counters of the container's interfaces except lo (undefined when unknown). */
  net?: NetCounters;
}

export type SourceName = 'cgroup_v1' | 'cgroup_v2' | 'docker_stats';

/** Something that can read a container's counters now. */
export interface ContainerReader {
  readonly source: SourceName;
  /** `fresh`: re-read everything now (the limit and OOM count are otherwise refreshed every tenth reading). */
  read(fresh?: boolean): Promise<Reading> | Reading;
  close(): void;
}
