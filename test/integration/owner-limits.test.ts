/**
 * Per-identity limits against a real miner and real Docker: what one client
 * certificate may hold (limits.max_allocations, max_cpus, max_memory,
 * max_lease_seconds, per-identity overrides), enforced under the capacity
 * mutex so concurrent Allocates cannot pass them, and the per-RPC rate
 * limits (limits.rate.*). Every refusal is RESOURCE_EXHAUSTED naming the
 * limit and what is left, and leaves nothing behind.
 */
import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import type { AllocateResponse, MinerServiceClient } from '../../common/gen/polarise/v1/miner.js';
import { allocate, codeOf, listContainers, minerClient, release } from '../support/clients.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { footprint, ready } from '../support/miner-state.js';

type Settled = PromiseSettledResult<AllocateResponse>;
const fulfilled = (results: Settled[]) => results.filter((r): r is PromiseFulfilledResult<AllocateResponse> => r.status === 'fulfilled').map((r) => r.value);
const refusals = (results: Settled[]) => results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as { code: number; details: string });

function clientOf(miner: MinerProcess, name: string): MinerServiceClient {
  return minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', name) });
}

describe('per-identity limits', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  let alice: MinerServiceClient;
  let bob: MinerServiceClient;

  before(async () => {
    await requireDocker();
    miner = await startMiner({
      config: {
        // 2 host CPUs x 8: the host's capacity is far from binding here.
        docker: { overcommit_ratio: 8, default_memory: '64m' },
        leases: { default_seconds: 300 },
        limits: {
          max_allocations: 2,
          max_cpus: 3,
          max_memory: '256m',
          max_lease_seconds: 600,
          identities: { 'spiffe://polarise/renter/bob': { max_allocations: 3 } },
        },
      },
    });
    alice = clientOf(miner, 'alice');
    bob = clientOf(miner, 'bob');
    await Promise.all([ready(alice), ready(bob)]);
  });
  after(async () => {
    alice?.close();
    bob?.close();
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  async function releaseAll(client: MinerServiceClient, list: AllocateResponse[]): Promise<void> {
    for (const a of list) await release(client, a.containerId);
  }

  it('concurrent Allocates of one identity never pass limits.max_allocations; another identity still allocates', async () => {
    const before = await footprint(miner);
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => allocate(alice, { cpuCount: 1 })));
    const ok = fulfilled(results);
    expect(ok).to.have.length(2);
    for (const r of refusals(results)) {
      expect(r.code, r.details).to.equal(status.RESOURCE_EXHAUSTED);
      expect(r.details).to.match(/limits\.max_allocations: 2 of 2 allocations held, 0 left/);
      expect(r.details).to.include('spiffe://polarise/renter/alice');
    }
    // Bob's own override (3) applies to him, not Alice's count.
    const bobs = fulfilled(await Promise.allSettled(Array.from({ length: 5 }, () => allocate(bob, {}))));
    expect(bobs).to.have.length(3);
    const fourth = await codeOf(allocate(bob, {}));
    expect(fourth.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(fourth.details).to.include('limits.identities["spiffe://polarise/renter/bob"].max_allocations: 3 of 3 allocations held, 0 left');
    // Releasing gives the room back.
    await release(alice, ok[0]!.containerId);
    ok[0] = await allocate(alice, {});
    await releaseAll(alice, ok);
    await releaseAll(bob, bobs);
    expect(await footprint(miner)).to.deep.equal(before);
  });

  it('concurrent Allocates never pass limits.max_cpus, and the message says what is left', async () => {
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => allocate(alice, { cpuCount: 2 })));
    const ok = fulfilled(results);
    expect(ok).to.have.length(1);
    for (const r of refusals(results)) {
      expect(r.code).to.equal(status.RESOURCE_EXHAUSTED);
      expect(r.details).to.match(/limits\.max_cpus: cpu_count 2 asked, 1 of 3 CPUs left/);
    }
    // Bob is not affected by what Alice holds.
    const b = await allocate(bob, { cpuCount: 2 });
    await releaseAll(alice, ok);
    await release(bob, b.containerId);
  });

  it('concurrent Allocates never pass limits.max_memory', async () => {
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => allocate(alice, { memory: '160m' })));
    const ok = fulfilled(results);
    expect(ok).to.have.length(1);
    for (const r of refusals(results)) {
      expect(r.code).to.equal(status.RESOURCE_EXHAUSTED);
      expect(r.details).to.match(/limits\.max_memory: memory 160 MiB asked, 96 MiB of 256 MiB left/);
    }
    await releaseAll(alice, ok);
  });

  it('a lease longer than limits.max_lease_seconds is refused, nothing left behind', async () => {
    const before = await footprint(miner);
    const r = await codeOf(allocate(alice, { leaseSeconds: 601 }));
    expect(r.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(r.details).to.match(/limits\.max_lease_seconds: lease_seconds 601 asked, at most 600 per lease/);
    expect(await footprint(miner)).to.deep.equal(before);
    const ok = await allocate(alice, { leaseSeconds: 600 });
    await release(alice, ok.containerId);
  });
});

describe('per-identity rate limits', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  let alice: MinerServiceClient;
  let bob: MinerServiceClient;

  before(async () => {
    await requireDocker();
    miner = await startMiner({
      config: {
        docker: { overcommit_ratio: 8, default_memory: '64m' },
        limits: { rate: { list_containers: { per_second: 2, burst: 5 }, allocate: { per_second: 0.5, burst: 2 } } },
      },
    });
    alice = clientOf(miner, 'alice');
    bob = clientOf(miner, 'bob');
    await Promise.all([ready(alice), ready(bob)]);
  });
  after(async () => {
    alice?.close();
    bob?.close();
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('a burst beyond limits.rate.list_containers is refused, the other identity is not, and it recovers', async () => {
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => listContainers(alice)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = refusals(results as Settled[]);
    expect(ok).to.have.length(5);
    expect(refused).to.have.length(7);
    for (const r of refused) {
      expect(r.code).to.equal(status.RESOURCE_EXHAUSTED);
      expect(r.details).to.match(/^rate limit limits\.rate\.list_containers: ListContainers is allowed 2 times a second per identity \(bursts of 5\); 0 left for spiffe:\/\/polarise\/renter\/alice, the next one in \d+ ms$/);
    }
    // Bob has buckets of his own.
    await listContainers(bob);
    // Two tokens a second: after 1.1 s two more calls pass, the third does not.
    await new Promise((r) => setTimeout(r, 1100));
    await listContainers(alice);
    await listContainers(alice);
    expect((await codeOf(listContainers(alice))).code).to.equal(status.RESOURCE_EXHAUSTED);
  });

  it('limits.rate.allocate refuses Allocates beyond the burst before any work is done', async () => {
    const before = await footprint(miner);
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => allocate(alice, {})));
    const ok = fulfilled(results);
    expect(ok).to.have.length(2);
    for (const r of refusals(results)) {
      expect(r.code).to.equal(status.RESOURCE_EXHAUSTED);
      expect(r.details).to.match(/^rate limit limits\.rate\.allocate: Allocate is allowed 0\.5 times a second per identity \(bursts of 2\)/);
    }
    for (const a of ok) await release(alice, a.containerId);
    expect(await footprint(miner)).to.deep.equal(before);
    // One token every 2 s.
    await new Promise((r) => setTimeout(r, 2100));
    const later = await allocate(alice, {});
    await release(alice, later.containerId);
  });
});
