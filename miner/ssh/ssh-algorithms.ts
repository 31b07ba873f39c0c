/**
 * What the SSH gateway offers in its KEXINIT. Key exchange is elliptic-curve
 * only: ssh2's defaults add Diffie-Hellman group exchange and the 2048- to
 * 8192-bit MODP groups (group14..group18), whose modular exponentiations run
 * synchronously on the miner's only event loop for anyone who opens a TCP
 * connection (group18 costs about 20 times curve25519 here). Every client
 * since OpenSSH 5.7 (2011) speaks ECDH or curve25519.
 *
 * Also left out: SHA-1 MACs, and "zlib" compression, which would decompress
 * data from a client before it has logged in ("zlib@openssh.com" starts only
 * after authentication). ssh2 appends "kex-strict-s-v00@openssh.com" (the
 * Terrapin countermeasure) to the key exchange list itself.
 */
import type { Algorithms } from 'ssh2';

export const SERVER_ALGORITHMS = {
  kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521'],
  /**
   * ssh2 offers one entry per host key it holds (ed25519 here, see
   * ssh-host-key.ts); this list only orders the RSA signature hashes (SHA-2
   * first) should an operator supply an RSA key.
   */
  serverHostKey: ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'],
  cipher: [
    'chacha20-poly1305@openssh.com',
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'aes128-ctr',
    'aes192-ctr',
    'aes256-ctr',
  ],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'],
  compress: ['none', 'zlib@openssh.com'],
} satisfies Algorithms;
