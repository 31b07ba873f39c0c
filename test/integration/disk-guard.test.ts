/**
 * docker.disk_limit through a real miner: a renter who fills the writable
 * layer past the limit loses the allocation within a few reconciler
 * periods (logged for the operator, counted in the metrics); one under the
 * limit is left alone. Block I/O limits are applied to the disk under
 * Docker's data; the writable-layer quota where the storage driver has one.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { allocate, listContainers, minerClient } from '../support/clients.js';
import { docker, requireDocker } from '../support/docker.js';
import { removeResourcesPatiently } from '../support/cleanup.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';
import { ssh } from '../support/openssh.js';
import { blockDeviceOf, dockerRootDir } from '../../miner/containers/disk-limits.js';

const MiB = 2 ** 20;

async function gone(id: string): Promise<boolean> {
  return docker
    .getContainer(id)
    .inspect()
    .then(
      () => false,
      (err: { statusCode?: number }) => err.statusCode === 404,
    );
}

/** A command's output in a container (multiplexed frames read as text: enough for a regex). */
async function execText(id: string, script: string): Promise<string> {
  const exec = await docker.getContainer(id).exec({ Cmd: ['sh', '-c', script], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  await new Promise((resolve) => stream.on('end', resolve));
  return text;
}

describe('disk guard: docker.disk_limit and block I/O', function () {
  this.timeout(120_000);
  let miner: MinerProcess | undefined;

  before(requireDocker);
  after(async () => {
    await miner?.stop();
    if (miner) {
      // A removal the guard started may still be finishing (Docker answers 409 meanwhile).
      await removeResourcesPatiently(miner.prefix);
      rmSync(miner.stateDir, { recursive: true, force: true });
    }
  });

  it('removes an allocation whose writable layer passes the limit, within a few periods, and leaves one under it alone', async () => {
    miner = await startMiner({
      config: {
        docker: { disk_limit: '64m', io_write_bps: '32m', io_read_bps: '64m', overcommit_ratio: 4 },
        leases: { reconcile_interval_seconds: 0.5 },
        metrics: { enabled: true, port: 0 },
      },
    });
    const metricsUrl = /"url":"([^"]+)"/.exec(miner.logs.find((l) => l.includes('metrics endpoint')) ?? '')?.[1];
    const client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', 'fill') });
    await ready(client);
    const [filler, modest] = [await allocate(client, { memory: '64m' }), await allocate(client, { memory: '64m' })];

    // Under the limit: 16 MiB written. Over it: 96 MiB reserved with `fallocate -n`
    // (the file's size stays 0, so Docker's SizeRw would read nothing).
    const small = await ssh({ host: modest.host, port: modest.sshPort, password: modest.password }, 'dd if=/dev/zero of=/data bs=1M count=16 status=none && sync && echo ok');
    expect(small.stdout.toString(), small.stderr.toString()).to.equal('ok\n');
    const big = await ssh({ host: filler.host, port: filler.sshPort, password: filler.password }, 'touch /fill && fallocate -n -l 96M /fill && ls -s --block-size=M /fill');
    expect(big.stdout.toString(), big.stderr.toString()).to.match(/^96M \/fill/);

    const deadline = Date.now() + 20_000; // 40 periods: generous for a loaded 2-core host
    while (!(await gone(filler.containerId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(await gone(filler.containerId), 'the filler is removed').to.equal(true);
    await new Promise((r) => setTimeout(r, 2000)); // four more periods
    expect((await docker.getContainer(modest.containerId).inspect()).State.Running).to.equal(true);
    expect((await listContainers(client)).containers.map((c) => c.containerId)).to.deep.equal([modest.containerId]);
    client.close();

    const warned = miner.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'writable layer above docker.disk_limit; removing the allocation');
    expect(warned, 'the operator is told').to.include({ container: filler.containerName, owner: 'spiffe://polarise/renter/fill', limitBytes: 64 * MiB });
    expect(warned!.bytes).to.be.above(64 * MiB);
    const text = await (await fetch(metricsUrl!)).text();
    expect(text).to.match(/^polarise_miner_disk_limit_removals_total 1$/m);
  });

  it('throttles block I/O on the disk under Docker\'s data, and sets the layer quota only where the storage driver has one', async () => {
    const info = await docker.getContainer((await docker.listContainers({ filters: { label: [`polarise.miner=${miner!.prefix}`] } }))[0]!.Id).inspect();
    const hc = info.HostConfig as { BlkioDeviceReadBps?: unknown; BlkioDeviceWriteBps?: unknown; StorageOpt?: Record<string, string> };
    const found = blockDeviceOf(await dockerRootDir(docker));
    expect(found, 'Docker\'s data is on a block device here').to.have.property('device');
    const device = (found as { device: string }).device;
    expect(hc.BlkioDeviceReadBps).to.deep.equal([{ Path: device, Rate: 64 * MiB }]);
    expect(hc.BlkioDeviceWriteBps).to.deep.equal([{ Path: device, Rate: 32 * MiB }]);
    // Direct I/O is held to the rate (buffered writes are not, on cgroup v1: README). The 16 MiB of the test
    // above go first, so the layer stays well under the 64 MiB limit while dd runs (the guard would remove it).
    const out = await execText(info.Id, 'rm -f /data; dd if=/dev/zero of=/d bs=1M count=32 oflag=direct 2>&1 | tail -1; rm -f /d');
    const seconds = Number(/, ([\d.]+) s,/.exec(out)?.[1]);
    expect(seconds, out).to.be.above(0.6); // 32 MiB at 32 MiB/s cannot take less than 1 s
    const unsupported = miner!.logs.some((l) => l.includes('the storage driver cannot limit a writable layer'));
    if (unsupported) expect(hc.StorageOpt ?? {}).to.not.have.property('size');
    else expect(hc.StorageOpt?.size).to.equal(String(64 * MiB));
  });
});
