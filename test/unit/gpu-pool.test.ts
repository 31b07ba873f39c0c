/**
 * GPU pool logic (no GPU on the test machine: the pool is pure logic, and
 * what Docker receives is its explicit DeviceIDs).
 */
import { expect } from 'chai';
import { Failure } from '../../common/errors.js';
import { GpuPool, assignGpus, gpuDeviceRequests, type GpuDemand } from '../../miner/allocations/gpu-pool.js';
import { parseAllocationRequest } from '../../miner/allocations/allocation-request.js';

function kindOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Failure).kind;
  }
  return 'ok';
}

describe('GPU pool', () => {
  it('two tenants asking for GPUs by count never get the same one', () => {
    const pool = new GpuPool(['0', '1', '2', '3']);
    const a = pool.take('a', { kind: 'count', count: 2 });
    const b = pool.take('b', { kind: 'count', count: 2 });
    expect(a).to.have.length(2);
    expect(b).to.have.length(2);
    expect(a.filter((id) => b.includes(id))).to.deep.equal([]);
    expect(kindOf(() => pool.take('c', { kind: 'count', count: 1 }))).to.equal('resource_exhausted');
  });

  it('an explicit ID in use, "gpu:all" while any is held, or an unknown ID are refused and take nothing', () => {
    const pool = new GpuPool(['GPU-aaa', 'GPU-bbb']);
    pool.take('a', { kind: 'ids', ids: ['GPU-aaa'] });
    const refused: [GpuDemand, string][] = [
      [{ kind: 'ids', ids: ['GPU-aaa'] }, 'resource_exhausted'],
      [{ kind: 'ids', ids: ['GPU-bbb', 'GPU-aaa'] }, 'resource_exhausted'],
      [{ kind: 'all' }, 'resource_exhausted'],
      [{ kind: 'ids', ids: ['GPU-zzz'] }, 'invalid_argument'],
      [{ kind: 'ids', ids: ['GPU-bbb', 'GPU-bbb'] }, 'invalid_argument'],
    ];
    for (const [demand, kind] of refused) expect(kindOf(() => pool.take('b', demand)), JSON.stringify(demand)).to.equal(kind);
    expect(pool.free()).to.deep.equal(['GPU-bbb']);
    expect(pool.heldBy('b')).to.deep.equal([]);
  });

  it('"gpu:all" takes every GPU and then nobody else gets one; release gives them back', () => {
    const pool = new GpuPool(['0', '1']);
    expect(pool.take('a', { kind: 'all' })).to.deep.equal(['0', '1']);
    expect(kindOf(() => pool.take('b', { kind: 'count', count: 1 }))).to.equal('resource_exhausted');
    pool.release('a');
    expect(pool.take('b', { kind: 'count', count: 1 })).to.deep.equal(['0']);
    expect(kindOf(() => new GpuPool([]).take('x', { kind: 'all' }))).to.equal('resource_exhausted');
  });

  it('adopting allocations after a restart reports a GPU two of them claim', () => {
    const pool = new GpuPool(['0', '1']);
    expect(pool.adopt('a', ['0'])).to.deep.equal([]);
    expect(pool.adopt('b', ['0', '1'])).to.deep.equal(['0']);
    expect(pool.heldBy('b')).to.deep.equal(['1']);
    expect(pool.adopt('c', ['7'])).to.deep.equal(['7']);
  });

  it('Docker gets explicit device IDs, never a count', () => {
    expect(gpuDeviceRequests(['0', '2'])).to.deep.equal([{ Driver: 'nvidia', DeviceIDs: ['0', '2'], Capabilities: [['gpu']] }]);
    expect(gpuDeviceRequests([])).to.deep.equal([]);
  });

  it('a GPU listed twice in the configuration is an error', () => {
    expect(() => new GpuPool(['0', '0'])).to.throw(/twice/);
  });
});

describe('GPUs an Allocate gets: explicit IDs from what the other allocations do not hold', () => {
  const defaults = { defaultMemory: '1g', minMemoryBytes: 32 * 2 ** 20, defaultCpuCount: 1, defaultLeaseSeconds: 3600, maxLeaseSeconds: 86400, hostCpus: 8, hostMemoryBytes: 64 * 2 ** 30 };
  const requests = (...devices: string[]) => parseAllocationRequest({ memory: '1g', cpuCount: 1, devices, publicKeys: [], leaseSeconds: 0 }, defaults).deviceRequests;

  it('two allocations asking for one GPU each get different ones; a third finds none left', () => {
    const held = new Map<string, string[]>();
    const a = assignGpus(2, held, 'a', requests('gpu:count=1'));
    held.set('a', a);
    const b = assignGpus(2, held, 'b', requests('gpu:count=1'));
    held.set('b', b);
    expect([a, b]).to.deep.equal([['0'], ['1']]);
    expect(kindOf(() => assignGpus(2, held, 'c', requests('gpu:count=1')))).to.equal('resource_exhausted');
    // What Docker receives names the device: never a count the runtime could fill with a GPU already taken.
    expect(gpuDeviceRequests(b)).to.deep.equal([{ Driver: 'nvidia', DeviceIDs: ['1'], Capabilities: [['gpu']] }]);
  });

  it('"gpu:all" needs every GPU free; a named GPU must be free; no device asked, none given', () => {
    expect(assignGpus(2, new Map(), 'a', requests('gpu:all'))).to.deep.equal(['0', '1']);
    expect(kindOf(() => assignGpus(2, new Map([['x', ['1']]]), 'a', requests('gpu:all')))).to.equal('resource_exhausted');
    expect(kindOf(() => assignGpus(2, new Map([['x', ['1']]]), 'a', requests('gpu:id=1')))).to.equal('resource_exhausted');
    expect(assignGpus(2, new Map([['x', ['1']]]), 'a', requests('gpu:id=0'))).to.deep.equal(['0']);
    expect(assignGpus(0, new Map(), 'a', requests())).to.deep.equal([]);
  });
});
