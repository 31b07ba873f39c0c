/**
 * The allocations this miner process knows about, keyed by container name.
 * It mirrors the containers' labels (rebuilt from Docker on start and kept in
 * step by the reconciler) plus the allocations still being created, whose
 * capacity is already reserved.
 */
import type { Holding } from './capacity.js';
import type { AllocationRecord } from '../containers/container-labels.js';
import type { SshEndpoint } from '../ssh/ssh-gateway.js';

export type AllocationState = 'pending' | 'ready' | 'removing';

export interface Allocation {
  record: AllocationRecord;
  /** Docker's id, once the container exists. */
  id?: string;
  state: AllocationState;
  /** When it became ready in this process (ms since epoch). */
  readyAt?: number;
  endpoint?: SshEndpoint;
  /** True when the SSH port is one this allocation took from the pool. */
  ownsPort: boolean;
  expiryTimer?: NodeJS.Timeout;
  removal?: Promise<void>;
}

export class AllocationRegistry {
  private readonly byName = new Map<string, Allocation>();

  add(allocation: Allocation): void {
    this.byName.set(allocation.record.name, allocation);
  }

  delete(allocation: Allocation): void {
    if (this.byName.get(allocation.record.name) === allocation) this.byName.delete(allocation.record.name);
  }

  byContainerName(name: string): Allocation | undefined {
    return this.byName.get(name);
  }

  /** By full id, a unique id prefix of at least 12 characters, or name. */
  find(idOrName: string): Allocation | undefined {
    const text = idOrName.trim();
    if (!text) return undefined;
    const named = this.byName.get(text);
    if (named) return named;
    const matches = [...this.byName.values()].filter((a) => a.id && (a.id === text || (text.length >= 12 && a.id.startsWith(text))));
    return matches.length === 1 ? matches[0] : undefined;
  }

  all(): Allocation[] {
    return [...this.byName.values()];
  }

  /** What every known allocation holds, the ones being created included. */
  holdings(): Holding[] {
    return this.all().map((a) => ({
      cpuCount: a.record.cpuCount,
      memoryBytes: a.record.memoryBytes,
      gpuCount: a.record.gpuCount,
      cpuset: a.record.cpuset,
    }));
  }
}
