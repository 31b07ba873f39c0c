/**
 * Fault suite: allocate/release churn through a real miner. After N cycles
 * (POLARISE_CHURN_CYCLES: 30 in `npm test`, 500 in `npm run test:faults`) no
 * container, network or SSH port is left, and the miner's resident memory
 * has not grown past a bound against what it was after the first fifth of
 * the cycles (target: within 10 % after 500 against after 50; printed).
 */
import { expect } from 'chai';
import { allocate, getCapacity, listContainers, minerClient, release } from '../support/clients.js';
import { countResources } from '../support/docker.js';
import { figure, rssBytes } from './figures.js';
import { useMiner } from './fault-miner.js';
import { createConnection } from 'node:net';

const CYCLES = Number(process.env.POLARISE_CHURN_CYCLES ?? 30);

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

describe(`faults: ${CYCLES} allocate/release cycles`, function () {
  this.timeout(120_000 + CYCLES * 5_000);
  const minerOf = useMiner({ config: { limits: { rate: { allocate: { per_second: 100, burst: 100 }, release: { per_second: 100, burst: 100 } } } } });

  it('leaves no container, network or SSH port, and the miner does not grow', async () => {
    const c = minerClient(minerOf().address, { caCert: minerOf().pki.caCert, client: minerOf().pki.client('renter', 'churn') });
    const ports = new Set<number>();
    const warm = Math.max(1, Math.floor(CYCLES / 5));
    let rssWarm = 0;
    const t0 = performance.now();
    for (let i = 0; i < CYCLES; i++) {
      const a = await allocate(c, { cpuCount: 1, memory: '64m' });
      ports.add(a.sshPort);
      await release(c, a.containerId);
      if (i + 1 === warm) rssWarm = await rssBytes(minerOf().child.pid!);
    }
    const seconds = (performance.now() - t0) / 1000;
    // Let the reconciler and GC settle before the last reading.
    await new Promise((r) => setTimeout(r, 2000));
    const rssEnd = await rssBytes(minerOf().child.pid!);
    const growth = rssEnd / rssWarm - 1;
    const open = (await Promise.all([...ports].map(portOpen))).filter(Boolean).length;
    const left = await countResources(minerOf().prefix);
    const capacity = await getCapacity(c);
    figure('churn', { cycles: CYCLES, seconds, per_cycle_ms: (seconds * 1000) / CYCLES, rss_after_warm_mib: rssWarm / 2 ** 20, rss_end_mib: rssEnd / 2 ** 20, growth_percent: growth * 100, ssh_ports_used: ports.size, ssh_ports_open: open, containers_left: left.containers, networks_left: left.networks });
    expect((await listContainers(c)).containers).to.deep.equal([]);
    expect(left).to.deep.equal({ containers: 0, networks: 0 });
    expect(open, 'SSH ports still listening').to.equal(0);
    expect(capacity.freeCpus).to.equal(capacity.totalCpus);
    expect(capacity.allocations).to.equal(0);
    // Heap noise on a short run is a few MiB; a leak per cycle shows as steady growth.
    expect(growth, `RSS ${(rssWarm / 2 ** 20).toFixed(1)} → ${(rssEnd / 2 ** 20).toFixed(1)} MiB`).to.be.below(CYCLES >= 500 ? 0.1 : 0.25);
  });
});
