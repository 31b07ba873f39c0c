/**
 * Renter passwords: generated from the CSPRNG, shown once, stored only as a
 * scrypt hash ("scrypt$N$r$p$salt$hash", base64) and compared in constant time.
 */
import { createHmac, randomBytes, randomInt, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** No look-alikes (0/O, 1/l/I) so a password read off a screen types right. */
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
export const PASSWORD_LENGTH = 24; // 24 × log2(57) ≈ 140 bits

/**
 * scrypt cost: N = 2^14, r = 8 (16 MiB, about 40 ms here). Modest on purpose:
 * the password is 140 random bits, so the hash only has to make an offline
 * guess pointless, and Allocate and every SSH login pay it once.
 */
const COST = { N: 1 << 14, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

export function generatePassword(length = PASSWORD_LENGTH): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_LENGTH, { ...options, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** True when `password` matches `encoded`; false for a malformed hash. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  if (expected.length !== KEY_LENGTH) return false;
  const actual = await derive(password, salt, { N, r, p });
  return timingSafeEqual(actual, expected);
}

/**
 * Remembers, in this process's memory only, that a password was verified:
 * an HMAC under a random key made at start (never written anywhere), so
 * that logins after Allocate (or after the first scrypt check following a
 * restart) cost microseconds instead of a scrypt. What is persisted stays
 * the scrypt hash; the key dies with the process.
 */
export class PasswordMemo {
  private readonly key = randomBytes(32);

  tag(password: string): Buffer {
    return createHmac('sha256', this.key).update(password, 'utf8').digest();
  }

  matches(password: string, tag: Buffer): boolean {
    return timingSafeEqual(this.tag(password), tag);
  }
}
