/**
 * What this miner can still hand out: the engine's CPUs and memory, minus the
 * host reserve, times the overcommit ratio (CPUs only), minus what managed containers
 * hold now. Holdings come from the containers' labels (via the registry), so
 * there is no counter to drift. The caller serialises check + reserve.
 */
import { resourceExhausted } from '../../common/errors.js';
import { formatBytes } from '../../common/units.js';

export interface HostResources {
  cpus: number;
  memoryBytes: number;
}

export interface CapacityPolicy {
  reserveCpus: number;
  reserveMemoryBytes: number;
  overcommitRatio: number;
  /** GPUs the operator says this host may hand out. */
  gpus: number;
}

export interface Holding {
  cpuCount: number;
  memoryBytes: number;
  /** -1 = all GPUs. */
  gpuCount: number;
  cpuset: number[];
}

export interface Demand {
  cpuCount: number;
  memoryBytes: number;
  gpuCount: number;
}

export interface Remaining {
  cpus: number;
  memoryBytes: number;
  gpus: number;
  totalCpus: number;
  totalMemoryBytes: number;
}

export function remaining(host: HostResources, policy: CapacityPolicy, holdings: readonly Holding[]): Remaining {
  const totalCpus = Math.max(0, (host.cpus - policy.reserveCpus) * policy.overcommitRatio);
  // Memory is never overcommitted: limits are hard and there is no swap, so
  // promising more than exists ends in the host's OOM killer.
  const totalMemoryBytes = Math.max(0, host.memoryBytes - policy.reserveMemoryBytes);
  let cpus = totalCpus;
  let memoryBytes = totalMemoryBytes;
  let gpus = policy.gpus;
  for (const h of holdings) {
    cpus -= h.cpuCount;
    memoryBytes -= h.memoryBytes;
    gpus -= h.gpuCount === -1 ? policy.gpus : h.gpuCount;
  }
  return { cpus: Math.max(0, cpus), memoryBytes: Math.max(0, memoryBytes), gpus: Math.max(0, gpus), totalCpus, totalMemoryBytes };
}

/** Throws resource_exhausted, saying what is left, when `demand` does not fit. */
export function checkFits(demand: Demand, host: HostResources, policy: CapacityPolicy, holdings: readonly Holding[]): void {
  const left = remaining(host, policy, holdings);
  const problems: string[] = [];
  if (demand.cpuCount > left.cpus + 1e-9) problems.push(`cpu_count ${demand.cpuCount} asked, ${trim(left.cpus)} of ${trim(left.totalCpus)} CPUs left`);
  if (demand.memoryBytes > left.memoryBytes) {
    problems.push(`memory ${formatBytes(demand.memoryBytes)} asked, ${formatBytes(left.memoryBytes)} of ${formatBytes(left.totalMemoryBytes)} left`);
  }
  const gpus = demand.gpuCount === -1 ? Math.max(1, policy.gpus) : demand.gpuCount;
  if (gpus > 0 && (gpus > left.gpus || (demand.gpuCount === -1 && left.gpus < policy.gpus))) {
    problems.push(`${demand.gpuCount === -1 ? 'all GPUs' : `${gpus} GPU(s)`} asked, ${left.gpus} of ${policy.gpus} GPUs left`);
  }
  if (problems.length) throw resourceExhausted(`not enough capacity: ${problems.join('; ')}`);
}

function trim(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

/**
 * Picks `count` host CPUs for a cpuset, the least used first (so that `nproc`
 * in the container equals cpu_count and, with overcommit, load spreads).
 */
export function pickCpuset(count: number, hostCpus: number, holdings: readonly Holding[]): number[] {
  const load = new Array<number>(hostCpus).fill(0);
  for (const h of holdings) for (const cpu of h.cpuset) if (cpu < hostCpus) load[cpu]! += 1;
  return load
    .map((l, cpu) => ({ l, cpu }))
    .sort((a, b) => a.l - b.l || a.cpu - b.cpu)
    .slice(0, count)
    .map((x) => x.cpu)
    .sort((a, b) => a - b);
}
