import { createHash } from 'node:crypto';

/** An SSH public key's fingerprint as OpenSSH prints it: "SHA256:" and unpadded base64. */
export function sshFingerprint(publicKeyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '');
}
