/**
 * What bounds a container's disk use in Docker itself, where the engine can:
 *  - block I/O: device read/write bytes per second (cgroup blkio throttling)
 *    on the disk under Docker's data directory, and a relative weight;
 *  - the writable layer's size (`--storage-opt size=`), which overlay2 only
 *    supports on XFS with project quotas: tried once, then left off.
 * The portable bound on the writable layer is the disk guard
 * (allocations/disk-guard.ts), which works on every engine.
 */
import type Docker from 'dockerode';
import { statSync, readFileSync, realpathSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface IoLimits {
  readBps: number;
  writeBps: number;
  /** 0: the engine's default. */
  weight: number;
}

/** The whole-disk device (/dev/NAME) that holds `dir`, or a reason there is none. */
export function blockDeviceOf(dir: string): { device: string } | { reason: string } {
  let dev: bigint;
  try {
    dev = statSync(dir, { bigint: true }).dev;
  } catch (err) {
    // A remote engine: its data directory is not on this host.
    return { reason: `cannot read ${dir} on this host: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  // Linux dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  let sys = `/sys/dev/block/${major}:${minor}`;
  if (!existsSync(sys)) return { reason: `${dir} is on device ${major}:${minor}, which is no block device (overlay, tmpfs or a network filesystem)` };
  // Throttling applies to whole disks: a partition's parent directory is its disk.
  if (existsSync(join(sys, 'partition'))) sys = dirname(realpathSync(sys));
  const name = /^DEVNAME=(\S{1,64})$/m.exec(readFileSync(join(sys, 'uevent'), 'utf8').slice(0, 4096))?.[1];
  if (!name || !existsSync(`/dev/${name}`)) return { reason: `no /dev node for block device ${major}:${minor}` };
  return { device: `/dev/${name}` };
}

/** The HostConfig keys that throttle block I/O on `device`. */
export function ioHostConfig(io: IoLimits, device: string | undefined): Partial<Docker.HostConfig> {
  const config: Partial<Docker.HostConfig> = {};
  if (device) {
    config.BlkioDeviceReadBps = [{ Path: device, Rate: io.readBps }];
    config.BlkioDeviceWriteBps = [{ Path: device, Rate: io.writeBps }];
  }
  if (io.weight > 0) config.BlkioWeight = io.weight;
  return config;
}

/** Docker's answer when the storage driver cannot limit a container's size. */
export function isStorageOptUnsupported(err: unknown): boolean {
  const text = String((err as { message?: unknown })?.message ?? err).slice(0, 2000).toLowerCase();
  return text.includes('storage-opt') || text.includes('storageopt') || text.includes('pquota');
}

/** Docker's data directory (where writable layers live). */
export async function dockerRootDir(docker: Docker): Promise<string> {
  const info = (await docker.info()) as { DockerRootDir?: string };
  return info.DockerRootDir || '/var/lib/docker';
}
