/**
 * The subnet's certificate authority and the leaves it issues, with
 * node-forge (RSA). A leaf always has SANs; the miner's server leaf carries
 * serverAuth, a client leaf clientAuth and its role in a SAN URI.
 */
import forge from 'node-forge';
import { randomBytes } from 'node:crypto';
import { identityUri, type Role } from './identity.js';

export interface Pem {
  cert: string;
  key: string;
}

export interface LeafOptions {
  commonName: string;
  dnsNames?: string[];
  ips?: string[];
  uris?: string[];
  usage: 'server' | 'client';
  days?: number;
}

const { pki } = forge;
const KEY_BITS = 2048;

function serial(): string {
  // Positive 128-bit serial: first hex digit below 8.
  const hex = randomBytes(16).toString('hex');
  return (parseInt(hex[0]!, 16) & 7).toString(16) + hex.slice(1);
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60_000);
  cert.validity.notAfter = new Date(now + days * 86_400_000);
}

export function createCa(commonName = 'Polarise subnet CA', days = 3650): Pem {
  const keys = pki.rsa.generateKeyPair(KEY_BITS);
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, days);
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'Polarise' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) };
}

export function issueLeaf(ca: Pem, options: LeafOptions): Pem {
  const caCert = pki.certificateFromPem(ca.cert);
  const caKey = pki.privateKeyFromPem(ca.key);
  const keys = pki.rsa.generateKeyPair(KEY_BITS);
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, options.days ?? 825);
  cert.setSubject([{ name: 'commonName', value: options.commonName }, { name: 'organizationName', value: 'Polarise' }]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(options.uris ?? []).map((value) => ({ type: 6, value })),
    ...(options.ips ?? []).map((ip) => ({ type: 7, ip })),
  ];
  if (altNames.length === 0) throw new Error('a certificate needs at least one subject alternative name');
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    options.usage === 'server' ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) };
}

export function issueMinerCert(ca: Pem, name: string, dnsNames: string[], ips: string[]): Pem {
  return issueLeaf(ca, { commonName: name, dnsNames, ips, usage: 'server' });
}

export function issueClientCert(ca: Pem, role: Role, name: string): Pem {
  return issueLeaf(ca, { commonName: `${role}/${name}`, uris: [identityUri(role, name)], usage: 'client' });
}
