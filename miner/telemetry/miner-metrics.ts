/** The miner's Prometheus metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface CapacitySnapshot {
  allocations: number;
  cpusUsed: number;
  cpusTotal: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
}

export class MinerMetrics {
  readonly registry = new Registry();

  readonly rpcs = new Counter({
    name: 'polarise_miner_rpc_total',
    help: 'MinerService calls by method and gRPC status code',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });

  readonly rpcSeconds = new Histogram({
    name: 'polarise_miner_rpc_duration_seconds',
    help: 'MinerService call latency by method',
    labelNames: ['method'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [this.registry],
  });

  readonly activeChallenges = new Gauge({
    name: 'polarise_miner_active_challenges',
    help: 'RunChallenge streams open now',
    registers: [this.registry],
  });

  readonly sshSessions = new Gauge({
    name: 'polarise_miner_ssh_sessions',
    help: 'SSH connections open now',
    registers: [this.registry],
  });

  readonly sshFailedLogins = new Counter({
    name: 'polarise_miner_ssh_failed_logins_total',
    help: 'SSH authentication attempts refused',
    registers: [this.registry],
  });

  constructor(capacity?: () => Promise<CapacitySnapshot>) {
    // 100 ms event-loop monitor: the default 10 ms wakes an idle miner 100 times a second.
    collectDefaultMetrics({ register: this.registry, prefix: 'polarise_miner_', eventLoopMonitoringPrecision: 100 });
    if (!capacity) return;
    let last: Promise<CapacitySnapshot> | undefined;
    // One capacity read per scrape, shared by the gauges below.
    const snapshot = () => (last ??= capacity().finally(() => setTimeout(() => (last = undefined), 100)));
    new Gauge({
      name: 'polarise_miner_allocations',
      help: 'Containers allocated now',
      registers: [this.registry],
      async collect() {
        this.set((await snapshot()).allocations);
      },
    });
    new Gauge({
      name: 'polarise_miner_capacity_cpus',
      help: 'CPU cores by state (used, free)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const s = await snapshot();
        this.set({ state: 'used' }, s.cpusUsed);
        this.set({ state: 'free' }, Math.max(0, s.cpusTotal - s.cpusUsed));
      },
    });
    new Gauge({
      name: 'polarise_miner_capacity_memory_bytes',
      help: 'Memory by state (used, free)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const s = await snapshot();
        this.set({ state: 'used' }, s.memoryUsedBytes);
        this.set({ state: 'free' }, Math.max(0, s.memoryTotalBytes - s.memoryUsedBytes));
      },
    });
  }
}
