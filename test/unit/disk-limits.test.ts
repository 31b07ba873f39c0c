/** Block I/O settings and the storage-opt fallback (pure logic, and the host's own /sys). */
import { expect } from 'chai';
import { blockDeviceOf, ioHostConfig, isStorageOptUnsupported } from '../../miner/containers/disk-limits.js';

describe('disk limits', () => {
  it('throttles read and write on the device, and sets a weight only when asked', () => {
    expect(ioHostConfig({ readBps: 10, writeBps: 20, weight: 0 }, '/dev/vdb')).to.deep.equal({
      BlkioDeviceReadBps: [{ Path: '/dev/vdb', Rate: 10 }],
      BlkioDeviceWriteBps: [{ Path: '/dev/vdb', Rate: 20 }],
    });
    expect(ioHostConfig({ readBps: 10, writeBps: 20, weight: 300 }, undefined)).to.deep.equal({ BlkioWeight: 300 });
  });

  it('says why there is no block device to throttle (missing path, tmpfs)', () => {
    expect(blockDeviceOf('/nonexistent/docker')).to.deep.equal({ reason: 'cannot read /nonexistent/docker on this host: ENOENT' });
    expect(blockDeviceOf('/proc')).to.have.property('reason').that.includes('no block device');
  });

  it("recognises Docker's refusal of --storage-opt size, and nothing else", () => {
    expect(isStorageOptUnsupported(new Error("(HTTP code 500) server error - --storage-opt is supported only for overlay over xfs with 'pquota' mount option"))).to.equal(true);
    expect(isStorageOptUnsupported(new Error('(HTTP code 404) no such image'))).to.equal(false);
  });
});
