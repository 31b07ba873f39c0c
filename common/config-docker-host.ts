/**
 * docker.* keys for what one miner keeps on the host and what one container
 * may take of the host's disk (spread into the `docker` section).
 */
import { z } from 'zod';

export function dockerHostKeys(size: z.ZodType<string>) {
  return {
    /** The miner's instance id and lock; one per miner on an engine (with its own container_prefix). */
    state_dir: z.string().min(1).default('var/miner'),
    /** Most a container's writable layer may use on disk; the reconciler removes an allocation above it. */
    disk_limit: size.default('10g'),
    /** Block I/O per container on the disk under Docker's data, bytes per second (cgroup blkio throttling). */
    io_read_bps: size.default('512m'),
    io_write_bps: size.default('256m'),
    /** Relative block I/O weight 10-1000; 0 leaves the engine's default. Needs BFQ/CFQ (cgroup v1) or io.weight (v2). */
    io_weight: z.number().int().min(0).max(1000).refine((w) => w === 0 || w >= 10, 'must be 0 or 10-1000').default(0),
  };
}
