/**
 * Per-identity rate limits per RPC (limits.rate.*): one token bucket per
 * identity (the client certificate's SAN URI) and method. A call over the
 * limit is refused with RESOURCE_EXHAUSTED before the handler does any work,
 * naming the limit and when the next call will be taken.
 *
 * Bounded: at most limits.rate_max_identities identities are tracked. A
 * bucket that has refilled completely says nothing an absent one would not,
 * so full buckets are dropped by a sweep once a minute and when the table
 * is full (at most once a second); if it is still full, the least recently
 * used identity is dropped (Map order, refreshed on every call).
 */
import type { Config } from '../../common/config.js';
import { resourceExhausted } from '../../common/errors.js';
import type { Identity } from '../../common/identity.js';
import type { MinerMethod } from './authorization.js';
import type { MinerHandlers } from './handlers.js';

type RateConfig = Config['limits']['rate'];

const CONFIG_KEY: Record<MinerMethod, keyof RateConfig> = {
  allocate: 'allocate',
  release: 'release',
  listContainers: 'list_containers',
  runChallenge: 'run_challenge',
  // A read like ListContainers: it shares that rate.
  getCapacity: 'list_containers',
};

const RPC_NAME: Record<MinerMethod, string> = {
  allocate: 'Allocate',
  release: 'Release',
  listContainers: 'ListContainers',
  runChallenge: 'RunChallenge',
  getCapacity: 'GetCapacity',
};

const SWEEP_EVERY_MS = 60_000;

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

export class RateLimiter {
  private readonly callers = new Map<string, Map<MinerMethod, Bucket>>();
  private nextSweep: number;
  private lastFullSweep = -Infinity;

  constructor(
    private readonly rates: RateConfig,
    private readonly maxIdentities: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.nextSweep = this.now() + SWEEP_EVERY_MS;
  }

  /** Identities tracked now (for tests and metrics). */
  get size(): number {
    return this.callers.size;
  }

  /** Takes one token for `method` from `caller`'s bucket, or throws resource_exhausted. */
  take(method: MinerMethod, caller: Identity): void {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    const buckets = this.bucketsOf(caller.uri, now);
    const { per_second: perSecond, burst } = this.rates[CONFIG_KEY[method]];
    const bucket = buckets.get(method) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    buckets.set(method, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const waitMs = Math.ceil(((1 - bucket.tokens) / perSecond) * 1000);
    throw resourceExhausted(
      `rate limit limits.rate.${CONFIG_KEY[method]}: ${RPC_NAME[method]} is allowed ${perSecond} times a second per identity ` +
        `(bursts of ${burst}); 0 left for ${caller.uri}, the next one in ${waitMs} ms`,
    );
  }

  /** The caller's buckets, moved to the most recently used end; makes room first if needed. */
  private bucketsOf(uri: string, now: number): Map<MinerMethod, Bucket> {
    let buckets = this.callers.get(uri);
    if (buckets) {
      this.callers.delete(uri);
    } else {
      // A full table is swept at most once a second; otherwise the oldest goes at once.
      if (this.callers.size >= this.maxIdentities && now - this.lastFullSweep >= 1000) {
        this.lastFullSweep = now;
        this.sweep(now);
      }
      while (this.callers.size >= this.maxIdentities) {
        const oldest = this.callers.keys().next().value as string;
        this.callers.delete(oldest);
      }
      buckets = new Map();
    }
    this.callers.set(uri, buckets);
    return buckets;
  }

  /** Drops every identity whose buckets have all refilled. */
  private sweep(now: number): void {
    this.nextSweep = now + SWEEP_EVERY_MS;
    for (const [uri, buckets] of this.callers) {
      let idle = true;
      for (const [method, b] of buckets) {
        const { per_second: perSecond, burst } = this.rates[CONFIG_KEY[method]];
        if (b.tokens + ((now - b.at) / 1000) * perSecond < burst) idle = false;
      }
      if (idle) this.callers.delete(uri);
    }
  }
}

/** MinerHandlers that take a token from the caller's bucket before each call. */
export function rateLimited(handlers: MinerHandlers, limiter: RateLimiter): MinerHandlers {
  return {
    allocate: async (request, caller) => {
      limiter.take('allocate', caller);
      return handlers.allocate(request, caller);
    },
    release: async (request, caller) => {
      limiter.take('release', caller);
      return handlers.release(request, caller);
    },
    getCapacity: async (request, caller) => {
      limiter.take('getCapacity', caller);
      return handlers.getCapacity(request, caller);
    },
    listContainers: async (request, caller) => {
      limiter.take('listContainers', caller);
      return handlers.listContainers(request, caller);
    },
    runChallenge: async (request, caller, sink) => {
      limiter.take('runChallenge', caller);
      return handlers.runChallenge(request, caller, sink);
    },
  };
}
