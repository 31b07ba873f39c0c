/** What an operator relies on: draining on SIGTERM, certificate rotation, logs without secrets. */
import { expect } from 'chai';
import { status, type ServiceError } from '@grpc/grpc-js';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Client } from 'ssh2';
import { issueMinerCert } from '../../common/certificates.js';
import { allocate, healthClient, listContainers, minerClient, release, runChallenge } from '../support/clients.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';

function sshLogin(port: number, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = new Client();
    c.on('error', () => resolve(false));
    c.on('ready', () => {
      c.end();
      resolve(true);
    });
    c.connect({ host: '127.0.0.1', port, username: 'root', password, readyTimeout: 10_000 });
  });
}

/** The serial number of the certificate the server presents to a new connection. */
function presentedSerial(port: number, pki: MinerProcess['pki']): Promise<string> {
  const client = pki.client('validator');
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(pki.caCert), cert: readFileSync(client.cert), key: readFileSync(client.key), ALPNProtocols: ['h2'] },
      () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

describe('operations', function () {
  this.timeout(120_000);
  before(requireDocker);

  describe('SIGTERM', () => {
    let miner: MinerProcess;
    after(async () => {
      await miner?.stop('SIGKILL');
      if (miner) await removeResources(miner.prefix);
    });

    it('drains: health NOT_SERVING, open challenge streams end UNAVAILABLE, leases stay for the next start', async () => {
      miner = await startMiner();
      const tls = { caCert: miner.pki.caCert, client: miner.pki.client('renter') };
      const client = minerClient(miner.address, tls);
      await ready(client);
      const a = await allocate(client, { memory: '128m', cpuCount: 1 });

      const health = healthClient(miner.address, tls);
      const statuses: number[] = [];
      const watch = health.watch({ service: '' });
      watch.on('data', (r: { status: number }) => statuses.push(r.status));
      watch.on('error', () => undefined);

      const challenge = runChallenge(client, { containerId: a.containerId, command: ['sleep', '30'], duration: 60 }).then(
        () => null,
        (err: ServiceError) => err,
      );
      await new Promise((r) => setTimeout(r, 1000));
      const started = Date.now();
      expect(await miner.stop('SIGTERM')).to.equal(0);
      expect(Date.now() - started, 'drained within the grace period').to.be.below(8000);
      const err = await challenge;
      expect(err?.code, 'the open stream ends with UNAVAILABLE').to.equal(status.UNAVAILABLE);
      expect(statuses).to.deep.equal([1, 2]);
      client.close();
      health.close();

      // Same config and state: the allocation is still there and still works.
      miner = await startMiner({ reuse: { configPath: miner.configPath, stateDir: miner.stateDir, prefix: miner.prefix } });
      const again = minerClient(miner.address, tls);
      await ready(again);
      const listed = (await listContainers(again)).containers.map((c) => c.containerId);
      expect(listed).to.include(a.containerId);
      expect(await sshLogin(a.sshPort, a.password)).to.equal(true);
      await release(again, a.containerId);
      again.close();
    });
  });

  describe('certificate rotation', () => {
    let miner: MinerProcess;
    after(async () => {
      await miner?.stop();
    });

    it('serves a replaced certificate to new connections without a restart', async () => {
      const base = await startMiner();
      const dir = base.stateDir;
      await base.stop();
      const cert = join(dir, 'miner.crt');
      const key = join(dir, 'miner.key');
      copyFileSync(base.pki.miner.cert, cert);
      copyFileSync(base.pki.miner.key, key);
      miner = await startMiner({ config: { security: { ca_cert: base.pki.caCert, cert, key, reload_seconds: 0.5 } } });
      const before = await presentedSerial(miner.port, miner.pki);

      const ca = { cert: readFileSync(miner.pki.caCert, 'utf8'), key: readFileSync(join(miner.pki.dir, 'ca.key'), 'utf8') };
      const next = issueMinerCert(ca, 'miner', ['localhost'], ['127.0.0.1']);
      // Replace atomically, as an operator should (write, then rename).
      writeFileSync(`${key}.new`, next.key, { mode: 0o600 });
      writeFileSync(`${cert}.new`, next.cert);
      renameSync(`${key}.new`, key);
      renameSync(`${cert}.new`, cert);
      await new Promise((r) => setTimeout(r, 1500));

      const after = await presentedSerial(miner.port, miner.pki);
      expect(after).to.not.equal(before);
      const client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter') });
      await listContainers(client);
      client.close();
    });
  });

  describe('logs', () => {
    let miner: MinerProcess;
    after(async () => {
      await miner?.stop();
      if (miner) await removeResources(miner.prefix);
    });

    it('are JSON lines and never carry a password or key', async () => {
      miner = await startMiner();
      const client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter') });
      await ready(client);
      const a = await allocate(client, { memory: '128m', cpuCount: 1 });
      expect(await sshLogin(a.sshPort, 'wrong-password-123')).to.equal(false);
      expect(await sshLogin(a.sshPort, a.password)).to.equal(true);
      await release(client, a.containerId);
      client.close();
      await miner.stop();
      const logs = miner.logs.join('\n');
      expect(miner.logs.length).to.be.above(3);
      for (const line of miner.logs) expect(() => JSON.parse(line), line).to.not.throw();
      expect(logs).to.not.include(a.password);
      expect(logs).to.not.include('wrong-password-123');
      expect(logs).to.not.match(/PRIVATE KEY/);
      expect(logs).to.not.match(/scrypt\$|\$scrypt/);
    });
  });
});
