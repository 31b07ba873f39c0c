/**
 * How many challenges may run at once: on the whole miner, per owner (the
 * caller's certificate identity) and per container. Each run holds its
 * output (up to 2 × challenge.max_output_bytes) and a live-output buffer in
 * the miner's memory, so these counts bound that memory too. A call over a
 * limit fails at once with RESOURCE_EXHAUSTED naming the limit; it never
 * waits in a queue.
 *
 * The total and per-owner counts are taken by a wrapper of the handlers
 * (withChallengeLimits), so gRPC and the REST API share them; the
 * per-container count by the runner once the container is resolved (a name
 * and an id must count as one container).
 */
import { resourceExhausted } from '../../common/errors.js';
import type { MinerHandlers } from '../server/handlers.js';

/** Counts held per key, up to a limit. */
export class Slots {
  private readonly held = new Map<string, number>();

  constructor(readonly limit: number) {}

  count(key: string): number {
    return this.held.get(key) ?? 0;
  }

  /** Takes one slot of `key` and returns its release (idempotent), or undefined when `key` is at the limit. */
  tryTake(key: string): (() => void) | undefined {
    const now = this.count(key);
    if (now >= this.limit) return undefined;
    this.held.set(key, now + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.count(key) - 1;
      if (left > 0) this.held.set(key, left);
      else this.held.delete(key);
    };
  }
}

export interface ChallengeCallLimits {
  max_concurrent_total: number;
  max_concurrent_per_owner: number;
}

const RETRY = 'try again when one of them has ended';

/** The miner-wide and per-owner counts, taken when a RunChallenge call arrives. */
export class ChallengeAdmission {
  private readonly total: Slots;
  private readonly perOwner: Slots;

  constructor(limits: ChallengeCallLimits) {
    this.total = new Slots(limits.max_concurrent_total);
    this.perOwner = new Slots(limits.max_concurrent_per_owner);
  }

  /** Counts one run of `owner`; throws RESOURCE_EXHAUSTED over a limit. Returns its release. */
  admit(owner: string): () => void {
    const total = this.total.tryTake('');
    if (!total) {
      throw resourceExhausted(`this miner is running ${this.total.limit} challenges, its limit (challenge.max_concurrent_total); ${RETRY}`);
    }
    const mine = this.perOwner.tryTake(owner);
    if (!mine) {
      total();
      throw resourceExhausted(
        `${owner} is running ${this.perOwner.limit} challenges, the limit per client identity (challenge.max_concurrent_per_owner); ${RETRY}`,
      );
    }
    return () => {
      mine();
      total();
    };
  }

  /** Runs counted now (for tests and metrics). */
  get running(): number {
    return this.total.count('');
  }
}

/** `handlers` with every RunChallenge counted by `admission` while it runs; the other calls pass through. */
export function withChallengeLimits(handlers: MinerHandlers, admission: ChallengeAdmission): MinerHandlers {
  return {
    allocate: (request, caller) => handlers.allocate(request, caller),
    release: (request, caller) => handlers.release(request, caller),
    getCapacity: (request, caller) => handlers.getCapacity(request, caller),
    listContainers: (request, caller) => handlers.listContainers(request, caller),
    runChallenge: async (request, caller, sink) => {
      const leave = admission.admit(caller.uri);
      try {
        await handlers.runChallenge(request, caller, sink);
      } finally {
        leave();
      }
    },
  };
}

/** The per-container count, taken by the runner. */
export class ContainerSlots {
  private readonly slots: Slots;

  constructor(limit: number) {
    this.slots = new Slots(limit);
  }

  /** Counts one run in `containerId` (the full id); throws RESOURCE_EXHAUSTED over the limit. Returns its release. */
  enter(containerId: string): () => void {
    const release = this.slots.tryTake(containerId);
    if (!release) {
      throw resourceExhausted(
        `container ${containerId.slice(0, 12)} is running ${this.slots.limit} challenges, the limit per container (challenge.max_concurrent_per_container); ${RETRY}`,
      );
    }
    return release;
  }
}
