/**
 * The host's GPUs as a pool of explicit device IDs. Every allocation gets the
 * IDs it holds written into its Docker device request (never `Count`, which
 * lets the NVIDIA runtime pick GPUs another tenant already has), so two
 * allocations never share a GPU.
 */
import { invalidArgument, resourceExhausted } from '../../common/errors.js';
import type { DeviceRequestSpec } from './allocation-request.js';

/** What an allocation asks for, as allocation-request.ts parsed it. */
export type GpuDemand = { kind: 'all' } | { kind: 'count'; count: number } | { kind: 'ids'; ids: string[] };

export class GpuPool {
  /** Device ID → the allocation (container name) holding it. */
  private readonly holder = new Map<string, string>();

  /** `deviceIds`: the GPUs the operator hands out, by index or UUID, in the order to give them. */
  constructor(private readonly deviceIds: readonly string[]) {
    if (new Set(deviceIds).size !== deviceIds.length) throw new Error('docker.gpu_devices lists a GPU twice');
  }

  free(): string[] {
    return this.deviceIds.filter((id) => !this.holder.has(id));
  }

  heldBy(allocation: string): string[] {
    return this.deviceIds.filter((id) => this.holder.get(id) === allocation);
  }

  /** Takes GPUs for `allocation` or throws (nothing taken). */
  take(allocation: string, demand: GpuDemand): string[] {
    const ids = this.choose(demand);
    for (const id of ids) this.holder.set(id, allocation);
    return ids;
  }

  private choose(demand: GpuDemand): string[] {
    const free = this.free();
    if (demand.kind === 'all') {
      if (this.deviceIds.length === 0 || free.length !== this.deviceIds.length) {
        throw resourceExhausted(`devices: "gpu:all" needs every GPU free; ${free.length} of ${this.deviceIds.length} are`);
      }
      return free;
    }
    if (demand.kind === 'count') {
      if (demand.count > free.length) throw resourceExhausted(`devices: ${demand.count} GPUs asked, ${free.length} of ${this.deviceIds.length} free`);
      return free.slice(0, demand.count);
    }
    for (const id of demand.ids) {
      if (!this.deviceIds.includes(id)) throw invalidArgument('devices', `GPU "${id}" is not one this miner hands out`);
      if (this.holder.has(id)) throw resourceExhausted(`devices: GPU "${id}" is in use`);
    }
    if (new Set(demand.ids).size !== demand.ids.length) throw invalidArgument('devices', 'a GPU is asked for twice');
    return [...demand.ids];
  }

  /**
   * Marks GPUs an existing allocation holds (on restart, from its labels).
   * Returns the IDs it could not have: unknown, or already another's.
   */
  adopt(allocation: string, ids: readonly string[]): string[] {
    const conflicts = ids.filter((id) => !this.deviceIds.includes(id) || (this.holder.has(id) && this.holder.get(id) !== allocation));
    for (const id of ids) if (!conflicts.includes(id)) this.holder.set(id, allocation);
    return conflicts;
  }

  release(allocation: string): void {
    for (const [id, holder] of this.holder) if (holder === allocation) this.holder.delete(id);
  }
}

/** What parsed device requests ask of the pool: all GPUs, a count, or named ones. */
export function gpuDemand(requests: readonly DeviceRequestSpec[]): GpuDemand | undefined {
  if (requests.some((r) => r.Count === -1)) return { kind: 'all' };
  const ids = requests.flatMap((r) => r.DeviceIDs ?? []);
  const count = requests.reduce((n, r) => n + (r.Count !== undefined && r.Count > 0 ? r.Count : 0), 0);
  if (ids.length && count) throw invalidArgument('devices', 'ask for GPUs by count or by id, not both');
  if (ids.length) return { kind: 'ids', ids };
  return count ? { kind: 'count', count } : undefined;
}

/**
 * The GPUs a new allocation gets: the host's `gpuCount` devices (indices
 * "0".."n-1") less those the existing allocations hold, chosen for `demand`.
 * Throws RESOURCE_EXHAUSTED (nothing taken) when they are not free.
 */
export function assignGpus(gpuCount: number, held: ReadonlyMap<string, readonly string[]>, name: string, requests: readonly DeviceRequestSpec[]): string[] {
  const demand = gpuDemand(requests);
  if (!demand) return [];
  const pool = new GpuPool(Array.from({ length: gpuCount }, (_, i) => String(i)));
  for (const [holder, ids] of held) pool.adopt(holder, ids);
  return pool.take(name, demand);
}

/** The Docker device request for exactly these GPUs (none when the list is empty). */
export function gpuDeviceRequests(ids: readonly string[]): DeviceRequestSpec[] {
  return ids.length ? [{ Driver: 'nvidia', DeviceIDs: [...ids], Capabilities: [['gpu']] }] : [];
}
