import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { createCa, issueLeaf, issueMinerCert, type Pem } from '../../common/certificates.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { codeOf, healthCheck, healthClient, listContainers, minerClient, allocate } from '../support/clients.js';

/** The fingerprint of the certificate the miner presents on a new TLS connection. */
function servedFingerprint(address: string, pki: MinerProcess['pki'], client: { cert: string; key: string }): Promise<string> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(pki.caCert), cert: readFileSync(client.cert), key: readFileSync(client.key), ALPNProtocols: ['h2'] },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      },
    );
    socket.on('error', reject);
  });
}

const fingerprint = (pem: Pem) => new X509Certificate(pem.cert).fingerprint256;

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

  it('gives PERMISSION_DENIED to a certificate with two URI SANs (exactly one names the caller)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'polarise-two-uris-'));
    const authority = { cert: readFileSync(miner.pki.caCert, 'utf8'), key: readFileSync(miner.pki.caCert.replace(/\.crt$/, '.key'), 'utf8') };
    const two = issueLeaf(authority, { commonName: 'two', uris: ['spiffe://polarise/renter/alice', 'spiffe://polarise/operator/root'], usage: 'client' });
    const files = { cert: join(dir, 'two.crt'), key: join(dir, 'two.key') };
    writeFileSync(files.cert, two.cert);
    writeFileSync(files.key, two.key);
    const client = minerClient(miner.address, { caCert: ca(), client: files });
    const { code, details } = await codeOf(listContainers(client));
    client.close();
    expect(code).to.equal(status.PERMISSION_DENIED);
    expect(details).to.match(/2 SAN URIs; exactly one/);
  });

  it('reloads its certificate and key only as a pair: a half-done rotation keeps the old pair serving', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'polarise-rotate-'));
    const authority = { cert: readFileSync(miner.pki.caCert, 'utf8'), key: readFileSync(miner.pki.caCert.replace(/\.crt$/, '.key'), 'utf8') };
    const [first, second] = [issueMinerCert(authority, 'first', ['localhost'], ['127.0.0.1']), issueMinerCert(authority, 'second', ['localhost'], ['127.0.0.1'])];
    const files = { cert: join(dir, 'miner.crt'), key: join(dir, 'miner.key') };
    writeFileSync(files.cert, first.cert);
    writeFileSync(files.key, first.key);
    const rotating = await startMiner({ config: { security: { cert: files.cert, key: files.key, reload_seconds: 0.2 } } });
    const client = miner.pki.client('validator');
    const health = () => healthClient(rotating.address, { caCert: ca(), client });
    try {
      expect(await servedFingerprint(rotating.address, rotating.pki, client)).to.equal(fingerprint(first));
      writeFileSync(files.cert, second.cert); // the key file still holds the first key
      const until = Date.now() + 1500;
      while (!rotating.logs.some((l) => l.includes('TLS files not reloaded')) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(rotating.logs.some((l) => l.includes('key does not belong to the certificate'))).to.equal(true);
      expect(await servedFingerprint(rotating.address, rotating.pki, client)).to.equal(fingerprint(first));
      const h = health();
      expect((await healthCheck(h)).status).to.equal(1);
      h.close();
      writeFileSync(files.key, second.key);
      let served = '';
      for (const end = Date.now() + 5000; Date.now() < end && served !== fingerprint(second); ) {
        await new Promise((r) => setTimeout(r, 200));
        served = await servedFingerprint(rotating.address, rotating.pki, client);
      }
      expect(served).to.equal(fingerprint(second));
    } finally {
      await rotating.stop();
    }
  });
});
