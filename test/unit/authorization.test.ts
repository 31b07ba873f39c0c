/**
 * Who a caller is, read from its certificate's DER: exactly one URI SAN, a
 * Polarise identity; anything else is PERMISSION_DENIED.
 */
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { createCa, issueClientCert, issueLeaf, type Pem } from '../../common/certificates.js';
import { Failure } from '../../common/errors.js';
import { authorize, type MinerMethod } from '../../miner/server/authorization.js';

function der(pem: Pem): { raw: Buffer } {
  return { raw: new X509Certificate(pem.cert).raw };
}

function deniedBy(method: MinerMethod, peer: { raw: Buffer }): string {
  try {
    authorize(method, peer);
  } catch (err) {
    expect(err).to.be.instanceOf(Failure);
    expect((err as Failure).kind).to.equal('permission_denied');
    return (err as Failure).message;
  }
  throw new Error('expected PERMISSION_DENIED');
}

describe('authorization from the certificate DER', function () {
  this.timeout(30_000);
  let ca: Pem;
  before(() => {
    ca = createCa('test CA');
  });

  it('reads the one URI SAN as the identity', () => {
    const id = authorize('allocate', der(issueClientCert(ca, 'renter', 'alice')));
    expect(id).to.deep.equal({ uri: 'spiffe://polarise/renter/alice', role: 'renter', name: 'alice' });
  });

  it('refuses a certificate with two URI SANs, whichever comes first', () => {
    for (const uris of [
      ['spiffe://polarise/renter/alice', 'spiffe://polarise/operator/root'],
      ['spiffe://polarise/operator/root', 'spiffe://polarise/renter/alice'],
    ]) {
      const cert = issueLeaf(ca, { commonName: 'two', uris, usage: 'client' });
      expect(deniedBy('listContainers', der(cert))).to.match(/2 SAN URIs; exactly one/);
    }
  });

  it('a comma inside a URI SAN does not make a second name (no role gained)', () => {
    const uri = 'spiffe://polarise/renter/x, URI:spiffe://polarise/operator/root';
    const cert = issueLeaf(ca, { commonName: 'comma', uris: [uri], usage: 'client' });
    expect(deniedBy('release', der(cert))).to.match(/names no Polarise role/);
  });

  it('a URI SAN beside DNS names still counts once; no URI at all is denied', () => {
    const both = issueLeaf(ca, { commonName: 'x', dnsNames: ['a.example'], uris: ['spiffe://polarise/validator/v1'], usage: 'client' });
    expect(authorize('allocate', der(both)).role).to.equal('validator');
    const none = issueLeaf(ca, { commonName: 'x', dnsNames: ['spiffe.example'], usage: 'client' });
    expect(deniedBy('allocate', der(none))).to.match(/names no Polarise role/);
  });

  it('garbage or oversized DER is denied with a clear message', () => {
    expect(deniedBy('allocate', { raw: Buffer.from('not a certificate') })).to.match(/could not be read/);
    expect(deniedBy('allocate', { raw: Buffer.alloc(64 * 1024, 0x30) })).to.match(/could not be read/);
  });

  it('a role still may only call what its policy allows', () => {
    expect(deniedBy('allocate', der(issueClientCert(ca, 'operator', 'ops')))).to.match(/role "operator" may not call allocate/);
  });
});
