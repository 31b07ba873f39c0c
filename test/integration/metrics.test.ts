import { expect } from 'chai';
import { Client } from 'ssh2';
import { allocate, minerClient, release, runChallenge } from '../support/clients.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';

function metricValue(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

function failLogin(port: number): Promise<void> {
  return new Promise((resolve) => {
    const c = new Client();
    c.on('error', () => resolve());
    c.on('ready', () => {
      c.end();
      resolve();
    });
    c.connect({ host: '127.0.0.1', port, username: 'root', password: 'definitely-wrong', readyTimeout: 10_000 });
  });
}

describe('operator metrics (Prometheus text)', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  let url: string;

  before(async () => {
    await requireDocker();
    miner = await startMiner({ config: { metrics: { enabled: true, port: 0 } } });
    const line = miner.logs.find((l) => l.includes('metrics endpoint'));
    url = /"url":"([^"]+)"/.exec(line ?? '')?.[1] ?? '';
    expect(url, 'the miner logs its metrics URL').to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('counts allocations, capacity, RPCs by method and code, challenges and failed SSH logins', async () => {
    const client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter') });
    await ready(client);
    const a = await allocate(client, { memory: '128m', cpuCount: 1 });
    await allocate(client, { memory: 'lots' }).catch(() => undefined);
    await runChallenge(client, { containerId: a.containerId, command: ['true'] });
    await failLogin(a.sshPort);

    const text = await (await fetch(url)).text();
    expect(metricValue(text, 'polarise_miner_allocations')).to.equal(1);
    expect(metricValue(text, 'polarise_miner_capacity_cpus', '{state="used"}')).to.equal(1);
    expect(metricValue(text, 'polarise_miner_capacity_memory_bytes', '{state="used"}')).to.equal(128 * 2 ** 20);
    expect(metricValue(text, 'polarise_miner_rpc_total', '{method="allocate",code="OK"}')).to.equal(1);
    expect(metricValue(text, 'polarise_miner_rpc_total', '{method="allocate",code="INVALID_ARGUMENT"}')).to.equal(1);
    expect(metricValue(text, 'polarise_miner_rpc_total', '{method="runChallenge",code="OK"}')).to.equal(1);
    expect(metricValue(text, 'polarise_miner_rpc_duration_seconds_count', '{method="allocate"}')).to.equal(2);
    expect(metricValue(text, 'polarise_miner_active_challenges')).to.equal(0);
    expect(metricValue(text, 'polarise_miner_ssh_failed_logins_total')).to.be.at.least(1);

    await release(client, a.containerId);
    const after = await (await fetch(url)).text();
    expect(metricValue(after, 'polarise_miner_allocations')).to.equal(0);
    client.close();
  });

  it('answers only GET /metrics', async () => {
    expect((await fetch(url.replace('/metrics', '/'))).status).to.equal(404);
  });
});
