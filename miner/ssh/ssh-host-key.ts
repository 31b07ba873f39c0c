/**
 * The SSH host key (ed25519): made on first start, kept at ssh.host_key with
 * mode 0600, so renters see the same fingerprint after a restart.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import ssh2 from 'ssh2';
import { sshFingerprint } from '../../common/ssh-fingerprint.js';

export interface HostKey {
  /** OpenSSH private key text. */
  privateKey: string;
  /** "SHA256:..." as OpenSSH prints it. */
  fingerprint: string;
}

/**
 * ssh2's ed25519 generator (1.17) writes a public key whose first byte is
 * zero as 31 bytes about once in 400 keys (measured: 8 of 3000), and that
 * key then fails to parse: the miner would not start. Draw again.
 */
export function generateHostKey(draws = 16): { private: string; public: string } {
  for (let i = 0; i < draws; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'polarise-miner' });
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new Error(`no usable ed25519 host key in ${draws} draws`);
}

export function loadOrCreateHostKey(path: string): HostKey {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const pair = generateHostKey();
    writeFileSync(path, pair.private, { mode: 0o600, flag: 'wx' });
    writeFileSync(path + '.pub', pair.public + '\n', { mode: 0o644 });
  }
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  const privateKey = readFileSync(path, 'utf8');
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error || Array.isArray(parsed)) {
    throw new Error(`ssh.host_key ${path}: not a usable private key (${parsed instanceof Error ? parsed.message : 'several keys'})`);
  }
  return { privateKey, fingerprint: sshFingerprint(parsed.getPublicSSH()) };
}
