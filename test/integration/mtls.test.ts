import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { codeOf, healthCheck, healthClient, listContainers, minerClient, allocate } from '../support/clients.js';

describe('miner server: mutual TLS and roles', () => {
  let miner: MinerProcess;
  before(async () => {
    miner = await startMiner();
  });
  after(async () => {
    await miner?.stop();
  });

  const ca = () => miner.pki.caCert;

  it('answers health SERVING to a client with a certificate from the subnet CA', async () => {
    const health = healthClient(miner.address, { caCert: ca(), client: miner.pki.client('validator') });
    expect((await healthCheck(health)).status).to.equal(1);
    expect((await healthCheck(health, 'polarise.v1.MinerService')).status).to.equal(1);
    health.close();
  });

  for (const [what, pick] of [
    ['no certificate', () => undefined],
    ['a certificate from another CA', () => miner.pki.foreign],
    ['a certificate without clientAuth', () => miner.pki.noClientAuth],
  ] as const) {
    it(`refuses a client with ${what} before any handler runs`, async () => {
      const before = miner.logs.filter((l) => l.includes('"msg":"rpc')).length;
      const client = minerClient(miner.address, { caCert: ca(), client: pick() });
      const { code } = await codeOf(listContainers(client));
      client.close();
      expect(code).to.equal(status.UNAVAILABLE);
      expect(miner.logs.filter((l) => l.includes('"msg":"rpc')).length).to.equal(before);
    });
  }

  it('gives PERMISSION_DENIED to a certificate that names no known role', async () => {
    const client = minerClient(miner.address, { caCert: ca(), client: miner.pki.noRole });
    const { code, details } = await codeOf(listContainers(client));
    client.close();
    expect(code).to.equal(status.PERMISSION_DENIED);
    expect(details).to.match(/no Polarise role/);
  });

  it('gives PERMISSION_DENIED when the role may not call the method (operator Allocate)', async () => {
    const client = minerClient(miner.address, { caCert: ca(), client: miner.pki.client('operator') });
    const { code, details } = await codeOf(allocate(client, {}));
    client.close();
    expect(code).to.equal(status.PERMISSION_DENIED);
    expect(details).to.match(/operator.*allocate/);
  });

  it('stops gracefully on SIGTERM with a health Watch open', async () => {
    const other = await startMiner();
    const health = healthClient(other.address, { caCert: ca(), client: other.pki.client('validator') });
    const watch = health.watch({ service: '' });
    const statuses: number[] = [];
    watch.on('data', (r: { status: number }) => statuses.push(r.status));
    watch.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const code = await other.stop('SIGTERM');
    health.close();
    expect(code).to.equal(0);
    expect(Date.now() - started).to.be.below(5000);
    expect(statuses[0]).to.equal(1);
  });
});
