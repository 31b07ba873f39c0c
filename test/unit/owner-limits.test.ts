import { expect } from 'chai';
import { parseConfig } from '../../common/config.js';
import { Failure } from '../../common/errors.js';
import { checkOwnerLimits, ownerLimitsFor, usageOf } from '../../miner/allocations/owner-limits.js';
import { RateLimiter } from '../../miner/server/rate-limit.js';

const alice = 'spiffe://polarise/renter/alice';
const bob = 'spiffe://polarise/renter/bob';
const MiB = 2 ** 20;

function refusal(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(Failure);
    expect((err as Failure).kind).to.equal('resource_exhausted');
    return (err as Failure).message;
  }
  throw new Error('expected a refusal');
}

describe('per-identity caps', () => {
  const limits = parseConfig(
    { leases: { default_seconds: 60 }, limits: { max_allocations: 2, max_cpus: 2, max_memory: '1g', max_lease_seconds: 600, identities: { [bob]: { max_cpus: 8 } } } },
    'test',
  ).limits;

  it('takes an identity override key by key, and names where each cap came from', () => {
    const forBob = ownerLimitsFor(limits, bob);
    expect(forBob).to.include({ maxAllocations: 2, maxCpus: 8, maxMemoryBytes: 1024 * MiB, maxLeaseSeconds: 600 });
    expect(forBob.keys.maxCpus).to.equal(`limits.identities["${bob}"].max_cpus`);
    expect(forBob.keys.maxAllocations).to.equal('limits.max_allocations');
    expect(ownerLimitsFor(limits, alice).maxCpus).to.equal(2);
    // An inherited property name is not an identity.
    expect(ownerLimitsFor(limits, 'constructor').maxCpus).to.equal(2);
  });

  it('counts only what the identity owns', () => {
    const records = [
      { owner: alice, cpuCount: 1, memoryBytes: 256 * MiB },
      { owner: bob, cpuCount: 4, memoryBytes: 512 * MiB },
      { owner: alice, cpuCount: 0.5, memoryBytes: 128 * MiB },
    ];
    expect(usageOf(alice, records)).to.deep.equal({ allocations: 2, cpus: 1.5, memoryBytes: 384 * MiB });
  });

  it('refuses what would pass a cap, naming every cap passed and what is left', () => {
    const caps = ownerLimitsFor(limits, alice);
    const message = refusal(() => checkOwnerLimits({ cpuCount: 2, memoryBytes: 900 * MiB, leaseSeconds: 601 }, { allocations: 2, cpus: 1, memoryBytes: 256 * MiB }, caps, alice));
    expect(message).to.equal(
      `per-identity limit for ${alice}: limits.max_allocations: 2 of 2 allocations held, 0 left; ` +
        'limits.max_cpus: cpu_count 2 asked, 1 of 2 CPUs left; limits.max_memory: memory 900 MiB asked, 768 MiB of 1.0 GiB left; ' +
        'limits.max_lease_seconds: lease_seconds 601 asked, at most 600 per lease',
    );
  });

  it('allows exactly up to a cap', () => {
    const caps = ownerLimitsFor(limits, alice);
    checkOwnerLimits({ cpuCount: 1, memoryBytes: 768 * MiB, leaseSeconds: 600 }, { allocations: 1, cpus: 1, memoryBytes: 256 * MiB }, caps, alice);
  });
});

describe('limits configuration', () => {
  const errorOf = (doc: unknown): string => {
    try {
      parseConfig(doc, 'config.yaml');
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected a configuration error');
  };

  it('has defaults that cap one identity well below a whole host', () => {
    const { limits, network } = parseConfig({}, 'x');
    expect(limits).to.deep.include({ max_allocations: 16, max_cpus: 16, max_memory: '64g', max_lease_seconds: 86_400, rate_max_identities: 10_000 });
    expect(limits.rate.allocate).to.deep.equal({ per_second: 5, burst: 20 });
    expect(network.egress_allow).to.deep.equal([]);
  });

  it('names the key in every error', () => {
    expect(errorOf({ limits: { max_cpus: 0 } })).to.match(/limits\.max_cpus: /);
    expect(errorOf({ limits: { max_memory: 'lots' } })).to.match(/limits\.max_memory: "lots" is not a size/);
    expect(errorOf({ limits: { rate: { allocate: { per_second: 0, burst: 1 } } } })).to.match(/limits\.rate\.allocate\.per_second: /);
    expect(errorOf({ limits: { rate: { ping: { per_second: 1, burst: 1 } } } })).to.match(/limits\.rate\.ping: unknown key/);
    expect(errorOf({ limits: { identities: { bob: { max_cpus: 1 } } } })).to.match(/limits\.identities\.bob: must be an identity URI/);
    expect(errorOf({ limits: { identities: { [bob]: { max_gpus: 1 } } } })).to.match(/max_gpus: unknown key/);
    expect(errorOf({ limits: { max_lease_seconds: 60 } })).to.match(/limits\.max_lease_seconds: must be at least leases\.default_seconds \(3600\)/);
    expect(errorOf({ network: { egress_allow: ['10.0.0.256'] } })).to.match(/network\.egress_allow\.0: /);
    expect(errorOf({ network: { egress_allow: ['10.0.0.2:0'] } })).to.match(/network\.egress_allow\.0: /);
    expect(errorOf({ network: { egress_allow: ['a'.repeat(100)] } })).to.match(/network\.egress_allow\.0: /);
  });

  it('takes limits from the environment', () => {
    const config = parseConfig({}, 'x', { POLARISE_LIMITS_MAX_MEMORY: '2g', POLARISE_LIMITS_MAX_ALLOCATIONS: '3' });
    expect(config.limits.max_memory).to.equal('2g');
    expect(config.limits.max_allocations).to.equal(3);
  });
});

describe('per-identity rate limiter', () => {
  const rates = parseConfig({ limits: { rate: { list_containers: { per_second: 2, burst: 3 } } } }, 'x').limits.rate;
  const id = (uri: string) => ({ uri, role: 'renter' as const, name: uri.split('/').pop()! });

  it('takes a burst, refuses beyond it naming the limit and the wait, and refills at the rate', () => {
    let now = 0;
    const limiter = new RateLimiter(rates, 100, () => now);
    for (let i = 0; i < 3; i++) limiter.take('listContainers', id(alice));
    expect(refusal(() => limiter.take('listContainers', id(alice)))).to.equal(
      `rate limit limits.rate.list_containers: ListContainers is allowed 2 times a second per identity (bursts of 3); 0 left for ${alice}, the next one in 500 ms`,
    );
    // Other methods and other identities have buckets of their own.
    limiter.take('allocate', id(alice));
    limiter.take('listContainers', id(bob));
    now = 500;
    limiter.take('listContainers', id(alice));
    expect(() => limiter.take('listContainers', id(alice))).to.throw(Failure);
    now = 10_000;
    for (let i = 0; i < 3; i++) limiter.take('listContainers', id(alice));
  });

  it('keeps at most max identities, dropping idle ones first, then the least recently used', () => {
    let now = 0;
    const limiter = new RateLimiter(rates, 3, () => now);
    const drain = (uri: string) => {
      for (let i = 0; i < 3; i++) limiter.take('listContainers', id(uri));
    };
    drain('spiffe://polarise/renter/a');
    drain('spiffe://polarise/renter/b');
    now = 100;
    drain('spiffe://polarise/renter/c');
    expect(limiter.size).to.equal(3);
    // A fourth: nobody is idle yet, so the least recently used (a) goes.
    drain('spiffe://polarise/renter/d');
    expect(limiter.size).to.equal(3);
    expect(() => limiter.take('listContainers', id('spiffe://polarise/renter/b'))).to.throw(Failure);
    // a was forgotten: it starts with a full bucket again (and b is now the oldest).
    limiter.take('listContainers', id('spiffe://polarise/renter/a'));
    // Much later every bucket is full again: a sweep empties the table.
    now = 120_000;
    limiter.take('listContainers', id('spiffe://polarise/renter/e'));
    expect(limiter.size).to.equal(1);
  });

  it('stays bounded under many identities', () => {
    const limiter = new RateLimiter(rates, 50, () => 0);
    for (let i = 0; i < 5000; i++) limiter.take('allocate', id(`spiffe://polarise/renter/n${i}`));
    expect(limiter.size).to.equal(50);
  });
});
