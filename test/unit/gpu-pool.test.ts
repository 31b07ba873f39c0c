/**
 * GPU pool logic (no GPU on the test machine: the pool is pure logic, and
 * what Docker receives is its explicit DeviceIDs).
 */
import { expect } from 'chai';
import { Failure } from '../../common/errors.js';
import { GpuPool, gpuDeviceRequests, type GpuDemand } from '../../miner/allocations/gpu-pool.js';

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
