import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const certs = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'scripts/certs.ts', ...args]);
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the command to fail');
    },
    (e: { code: number; stderr: string }) => e,
  );

describe('npm run certs', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'polarise-certs-'));

  before(async () => {
    await certs('ca', '--out', dir);
    await certs('miner', '--ca', dir, '--out', dir, '--dns', 'localhost,miner.example', '--ip', '127.0.0.1,10.1.2.3');
    await certs('client', '--ca', dir, '--out', dir, '--role', 'renter', '--name', 'alice');
  });

  it('writes private keys 0600', () => {
    for (const key of ['ca.key', 'miner.key', 'renter-alice.key']) {
      expect(statSync(join(dir, key)).mode & 0o777, key).to.equal(0o600);
    }
  });

  it('issues a miner certificate with the SANs asked for and serverAuth, signed by the CA', () => {
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    const cert = new X509Certificate(readFileSync(join(dir, 'miner.crt')));
    expect(cert.verify(ca.publicKey)).to.equal(true);
    expect(cert.subjectAltName).to.include('DNS:miner.example').and.include('IP Address:10.1.2.3');
    expect(cert.keyUsage).to.include('1.3.6.1.5.5.7.3.1');
  });

  it('puts the client role and name in a SAN URI, with clientAuth', () => {
    const cert = new X509Certificate(readFileSync(join(dir, 'renter-alice.crt')));
    expect(cert.subjectAltName).to.include('URI:spiffe://polarise/renter/alice');
    expect(cert.keyUsage).to.include('1.3.6.1.5.5.7.3.2');
  });

  it('refuses to overwrite without --force, and overwrites with it', async () => {
    const before = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const e = await failure(certs('ca', '--out', dir));
    expect(e.code).to.equal(2);
    expect(e.stderr).to.match(/ca\.crt exists; pass --force/);
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).to.equal(before);
    await certs('ca', '--out', dir, '--force');
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).to.not.equal(before);
  });

  it('explains bad arguments', async () => {
    expect((await failure(certs('client', '--ca', dir, '--out', dir, '--role', 'king', '--name', 'x'))).stderr).to.match(
      /--role: "king" is not one of validator, renter, operator/,
    );
    expect((await failure(certs('miner', '--ca', dir, '--out', dir, '--ip', 'not-an-ip'))).stderr).to.match(/--ip: "not-an-ip" is not an IP/);
    expect((await failure(certs('client', '--ca', '/nonexistent', '--out', dir, '--role', 'renter', '--name', 'x'))).stderr).to.match(/no CA in \/nonexistent/);
    expect((await failure(certs('frobnicate'))).stderr).to.match(/unknown command "frobnicate"/);
    expect((await failure(certs('ca', '--bogus'))).stderr).to.match(/bogus/);
  });
});
