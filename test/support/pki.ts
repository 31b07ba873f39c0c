/**
 * A throwaway PKI for one test run: a CA, a miner certificate for localhost,
 * one client per role, and the odd certificates the mTLS tests need.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueClientCert, issueLeaf, issueMinerCert, type Pem } from '../../common/certificates.js';
import { identityUri, type Role } from '../../common/identity.js';

export interface PemFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  caCert: string;
  miner: PemFiles;
  client(role: Role, name?: string): PemFiles;
  /** A client certificate from another CA. */
  foreign: PemFiles;
  /** Signed by the right CA but with serverAuth only (no clientAuth). */
  noClientAuth: PemFiles;
  /** Signed by the right CA, clientAuth, but naming no Polarise role. */
  noRole: PemFiles;
}

let cached: TestPki | undefined;

export function testPki(): TestPki {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'polarise-pki-'));
  const save = (name: string, pem: Pem): PemFiles => {
    const cert = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    writeFileSync(cert, pem.cert);
    writeFileSync(key, pem.key, { mode: 0o600 });
    return { cert, key };
  };
  const ca = createCa('Polarise test CA');
  const caFiles = save('ca', ca);
  const clients = new Map<string, PemFiles>();
  const other = createCa('Some other CA');
  cached = {
    dir,
    caCert: caFiles.cert,
    miner: save('miner', issueMinerCert(ca, 'miner', ['localhost'], ['127.0.0.1', '::1'])),
    client(role: Role, name = 'test') {
      const id = `${role}-${name}`;
      if (!clients.has(id)) clients.set(id, save(id, issueClientCert(ca, role, name)));
      return clients.get(id)!;
    },
    foreign: save('foreign', issueClientCert(other, 'validator', 'intruder')),
    noClientAuth: save('no-client-auth', issueLeaf(ca, { commonName: 'x', uris: [identityUri('validator', 'x')], usage: 'server' })),
    noRole: save('no-role', issueLeaf(ca, { commonName: 'nobody', uris: ['spiffe://polarise/stranger/nobody'], usage: 'client' })),
  };
  return cached;
}
