/**
 * The `validator` section: which miners to challenge, what light and
 * full-capacity rounds rent, where scores and the report go, and how rounds
 * are weighted (docs/verification.md).
 */
import { z } from 'zod';

export function validatorSection(memory: z.ZodType<string>) {
  const minerTarget = z.strictObject({
    /** How the miner is named in scores, logs and reports. */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"'),
    /** host:port of the miner's gRPC server. */
    address: z.string().regex(/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/, 'must be host:port'),
    /** Name the miner's certificate is checked against, when not the host of address. */
    server_name: z.string().min(1).optional(),
  });

  return z.strictObject({
    /** The validator's own client certificate (role validator) and the subnet CA. */
    ca_cert: z.string().min(1).default('certs/dev/ca.crt'),
    cert: z.string().min(1).default('certs/dev/validator-dev.crt'),
    key: z.string().min(1).default('certs/dev/validator-dev.key'),
    miners: z.array(minerTarget).default([{ name: 'local', address: 'localhost:8443' }]),
    /** Seconds between rounds in daemon mode. */
    interval_seconds: z.number().positive().default(300),
    /** Miners challenged at once. */
    concurrency: z.number().int().min(1).default(4),
    /** What a light (liveness) round rents from each miner and then verifies. */
    cpu_count: z.number().int().min(1).default(1),
    memory: memory.default('512m'),
    /** Size of the memory challenge; must fit in `memory`. */
    challenge_memory: memory.default('256m'),
    /** Full-capacity rounds: every free CPU and most of the free memory, proven, once per window at a random time. */
    capacity: z
      .strictObject({
        /** false: light rounds only (tests and benchmarks that must not rent a whole host). */
      enabled: z.boolean().default(true),
      /** One full-capacity round per miner in each window, at a random time in it; 0: every round is one. */
        window_seconds: z.number().int().min(0).default(3600),
        /** Share of the miner's free memory a full-capacity round rents (the rest is the miner's own margin). */
        memory_fraction: z.number().gt(0).max(1).default(0.75),
        /** Share of the rented memory the memory challenge fills (the rest: the probe, its Merkle tree, sshd). */
        challenge_fraction: z.number().gt(0).max(0.9).default(0.8),
        /** Most memory one full-capacity round rents; unset: all of memory_fraction. */
        max_memory: memory.optional(),
        /** Proven capacity is the best of the last this many full-capacity rounds (noise only slows a prover); 1: the last one. */
        best_of: z.number().int().min(1).max(24).default(3),
      })
      .default({ enabled: true, window_seconds: 3600, memory_fraction: 0.75, challenge_fraction: 0.8, best_of: 3 }),
    database: z.string().min(1).default('var/validator.db'),
    report: z.string().min(1).default('var/report.html'),
    /** Score weights; normalised to sum to 1. */
    weights: z
      .strictObject({
        compute: z.number().min(0).default(0.4),
        memory: z.number().min(0).default(0.3),
        rental: z.number().min(0).default(0.15),
        metrics: z.number().min(0).default(0.15),
      })
      .default({ compute: 0.4, memory: 0.3, rental: 0.15, metrics: 0.15 })
      .refine((w) => w.compute + w.memory + w.rental + w.metrics > 0, 'at least one weight must be above zero'),
    /** Weight of the newest round in the moving average of scores. */
    ema_alpha: z.number().gt(0).max(1).default(0.3),
  });
}
