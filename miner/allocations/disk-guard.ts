/**
 * The portable bound on a container's writable layer (docker.disk_limit),
 * for engines whose storage driver cannot enforce one (overlay2 needs XFS
 * with pquota; ext4 here). Every leases.reconcile_interval_seconds it
 * measures every ready allocation's overlay2 upper directory in one du run
 * (layer-usage.ts; other storage drivers: Docker's SizeRw), and an
 * allocation above the limit is removed, container and writable layer with it.
 *
 * Removed, not stopped: a stopped container keeps its writable layer, so
 * the disk stays full for every other tenant and the miner until the lease
 * ends, and `fallocate` fills gigabytes faster than any check interval.
 * Removing gives the space back at once; the renter's files go with it,
 * which is what the limit they rented under says. The operator sees a
 * warning log (container, owner, bytes, limit) and
 * polarise_miner_disk_limit_removals_total; the renter's SSH session ends
 * and the container is no longer listed.
 */
import type Docker from 'dockerode';
import { errorMessage } from '../../common/errors.js';
import { repeatEvery, type Repeating } from '../../common/repeat-every.js';
import type { Logger } from '../../common/logger.js';
import { layerUsages } from '../containers/layer-usage.js';
import type { Allocations } from './allocations.js';
import type { Allocation } from './allocation-registry.js';

export interface DiskGuardOptions {
  limitBytes: number;
  intervalMs: number;
  /** Called once per allocation removed for its disk use. */
  onRemoved?: (allocation: Allocation, bytes: number) => void;
}

/** `GET /containers/{id}/json?size=1` (dockerode's types leave out the option). */
export function inspectWithSize(container: Docker.Container): Promise<unknown> {
  return (container.inspect as (opts: { size: boolean }) => Promise<unknown>).call(container, { size: true });
}

export class DiskGuard {
  /** Upper directory per container id (null: not overlay2, ask Docker for SizeRw). */
  private readonly upperDirs = new Map<string, string | null>();
  private repeating: Repeating | undefined;
  private stopped = false;

  constructor(
    private readonly allocations: Allocations,
    private readonly docker: Docker,
    private readonly options: DiskGuardOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.repeating = repeatEvery(this.options.intervalMs, () => this.check(), (err) => this.log.warn('disk check failed', { error: errorMessage(err) }));
  }

  stop(): void {
    this.stopped = true;
    this.repeating?.stop();
  }

  /** One pass over every ready allocation. */
  async check(): Promise<void> {
    const ready = this.allocations.registry.all().filter((a) => a.state === 'ready' && a.id);
    const measured = await this.measure(ready.map((a) => a.id!));
    for (const allocation of ready) {
      const bytes = measured.get(allocation.id!);
      if (this.stopped) return;
      if (bytes !== undefined && bytes > this.options.limitBytes && allocation.state === 'ready') await this.remove(allocation, bytes);
    }
  }

  private async remove(allocation: Allocation, bytes: number): Promise<void> {
    const { record } = allocation;
    const limit = this.options.limitBytes;
    this.log.warn('writable layer above docker.disk_limit; removing the allocation', { container: record.name, owner: record.owner, bytes, limitBytes: limit });
    this.options.onRemoved?.(allocation, bytes);
    await this.allocations.teardown(allocation, `disk limit: writable layer above ${limit} bytes (docker.disk_limit)`);
  }

  /** Bytes each container's writable layer uses (by container id); one that cannot be measured is left out and logged. */
  private async measure(ids: string[]): Promise<Map<string, number>> {
    for (const id of this.upperDirs.keys()) if (!ids.includes(id)) this.upperDirs.delete(id);
    const bytes = new Map<string, number>();
    const byDir = new Map<string, string>();
    for (const id of ids) {
      try {
        let upper = this.upperDirs.get(id);
        if (upper === undefined) {
          const driver = (await this.docker.getContainer(id).inspect()).GraphDriver as { Name?: string; Data?: { UpperDir?: string } } | undefined;
          upper = driver?.Name === 'overlay2' ? (driver.Data?.UpperDir ?? null) : null;
          this.upperDirs.set(id, upper);
        }
        if (upper) byDir.set(upper, id);
        else bytes.set(id, ((await inspectWithSize(this.docker.getContainer(id))) as { SizeRw?: number }).SizeRw ?? 0);
      } catch (err) {
        this.log.warn('cannot measure a writable layer', { container: id.slice(0, 12), error: errorMessage(err) });
      }
    }
    for (const [dir, usage] of await layerUsages([...byDir.keys()])) bytes.set(byDir.get(dir)!, usage.bytes);
    return bytes;
  }
}
