/**
 * What one identity (the client certificate's SAN URI, the owner label of
 * its allocations) may hold at once: allocations, CPUs, memory, and how long
 * one lease may run. Without these a single renter certificate could take
 * every CPU, all memory and every SSH port for the longest lease. The caller
 * checks under the same mutex as capacity (allocations.ts), so concurrent
 * Allocates of one identity never together exceed its caps.
 */
import type { Config } from '../../common/config.js';
import { resourceExhausted } from '../../common/errors.js';
import { formatBytes, parseMemory } from '../../common/units.js';

export interface OwnerLimits {
  maxAllocations: number;
  maxCpus: number;
  maxMemoryBytes: number;
  maxLeaseSeconds: number;
  /** The config key each cap came from, for messages. */
  keys: { maxAllocations: string; maxCpus: string; maxMemoryBytes: string; maxLeaseSeconds: string };
}

/** What an identity holds now: its allocations, the ones being created included. */
export interface OwnerUsage {
  allocations: number;
  cpus: number;
  memoryBytes: number;
}

export interface OwnerDemand {
  cpuCount: number;
  memoryBytes: number;
  leaseSeconds: number;
}

type LimitsConfig = Config['limits'];

/** The caps of `uri`: limits.identities["<uri>"] where set, else the limits.* defaults. */
export function ownerLimitsFor(limits: LimitsConfig, uri: string): OwnerLimits {
  const override = Object.hasOwn(limits.identities, uri) ? limits.identities[uri] : undefined;
  const pick = <K extends 'max_allocations' | 'max_cpus' | 'max_memory' | 'max_lease_seconds'>(key: K) =>
    override?.[key] !== undefined
      ? { value: override[key]!, key: `limits.identities["${uri}"].${key}` }
      : { value: limits[key], key: `limits.${key}` };
  const allocations = pick('max_allocations');
  const cpus = pick('max_cpus');
  const memory = pick('max_memory');
  const lease = pick('max_lease_seconds');
  return {
    maxAllocations: allocations.value as number,
    maxCpus: cpus.value as number,
    maxMemoryBytes: parseMemory(memory.value as string, memory.key),
    maxLeaseSeconds: lease.value as number,
    keys: { maxAllocations: allocations.key, maxCpus: cpus.key, maxMemoryBytes: memory.key, maxLeaseSeconds: lease.key },
  };
}

/**
 * Throws resource_exhausted when `demand` would take `uri` past a cap. The
 * message names every cap it would pass (its config key) and what is left.
 */
export function checkOwnerLimits(demand: OwnerDemand, usage: OwnerUsage, limits: OwnerLimits, uri: string): void {
  const problems: string[] = [];
  const { keys } = limits;
  if (usage.allocations + 1 > limits.maxAllocations) {
    problems.push(`${keys.maxAllocations}: ${usage.allocations} of ${limits.maxAllocations} allocations held, 0 left`);
  }
  if (usage.cpus + demand.cpuCount > limits.maxCpus + 1e-9) {
    const left = Math.max(0, limits.maxCpus - usage.cpus);
    problems.push(`${keys.maxCpus}: cpu_count ${demand.cpuCount} asked, ${trim(left)} of ${trim(limits.maxCpus)} CPUs left`);
  }
  if (usage.memoryBytes + demand.memoryBytes > limits.maxMemoryBytes) {
    const left = Math.max(0, limits.maxMemoryBytes - usage.memoryBytes);
    problems.push(`${keys.maxMemoryBytes}: memory ${formatBytes(demand.memoryBytes)} asked, ${formatBytes(left)} of ${formatBytes(limits.maxMemoryBytes)} left`);
  }
  if (demand.leaseSeconds > limits.maxLeaseSeconds) {
    problems.push(`${keys.maxLeaseSeconds}: lease_seconds ${demand.leaseSeconds} asked, at most ${limits.maxLeaseSeconds} per lease`);
  }
  if (problems.length) throw resourceExhausted(`per-identity limit for ${uri}: ${problems.join('; ')}`);
}

/** Sums what the allocations owned by `uri` hold. */
export function usageOf(uri: string, allocations: Iterable<{ owner: string; cpuCount: number; memoryBytes: number }>): OwnerUsage {
  const usage: OwnerUsage = { allocations: 0, cpus: 0, memoryBytes: 0 };
  for (const a of allocations) {
    if (a.owner !== uri) continue;
    usage.allocations += 1;
    usage.cpus += a.cpuCount;
    usage.memoryBytes += a.memoryBytes;
  }
  return usage;
}

function trim(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}
