/**
 * TLS reload takes the certificate and key only as a pair: a rotation caught
 * halfway keeps the old pair in service.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueMinerCert, type Pem } from '../../common/certificates.js';
import { PairedFileCertificateProvider } from '../../miner/server/paired-certificates.js';
import { serverCredentials } from '../../miner/server/tls-credentials.js';

describe('TLS certificate and key reload as one pair', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'polarise-pair-'));
  const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'miner.crt'), key: join(dir, 'miner.key') };
  let ca: Pem;
  let first: Pem;
  let second: Pem;
  before(() => {
    ca = createCa('pair CA');
    first = issueMinerCert(ca, 'one', ['localhost'], []);
    second = issueMinerCert(ca, 'two', ['localhost'], []);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function write(pem: { cert?: string; key?: string }): void {
    writeFileSync(files.ca, ca.cert);
    if (pem.cert) writeFileSync(files.cert, pem.cert);
    if (pem.key) writeFileSync(files.key, pem.key);
  }

  it('a new certificate with the old key is not taken; the new key completes the pair', async () => {
    write(first);
    const rejected: string[] = [];
    const provider = new PairedFileCertificateProvider({ caCertificateFile: files.ca, certificateFile: files.cert, privateKeyFile: files.key, refreshIntervalMs: 3_600_000, onRejected: (r) => rejected.push(r) });
    const served: string[] = [];
    const listener = (u: { certificate: Buffer } | null) => served.push(u!.certificate.toString());
    provider.addIdentityCertificateListener(listener);
    await provider.refresh();
    expect(served.at(-1)).to.equal(first.cert);

    write({ cert: second.cert }); // halfway: the key file still holds the first key
    await provider.refresh();
    expect(served.at(-1)).to.equal(first.cert);
    expect(rejected.at(-1)).to.match(/key does not belong to the certificate; still serving the previous pair/);

    write({ key: second.key });
    await provider.refresh();
    expect(served.at(-1)).to.equal(second.cert);
    expect(new Set(served)).to.deep.equal(new Set([first.cert, second.cert]));
    provider.removeIdentityCertificateListener(listener);
  });

  it('refuses to start with a certificate and key that are not a pair', () => {
    write({ cert: first.cert, key: second.key });
    expect(() => serverCredentials({ caCert: files.ca, cert: files.cert, key: files.key })).to.throw(/security\.cert .* key does not belong to the certificate/);
  });
});
