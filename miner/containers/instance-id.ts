/**
 * The miner's instance identity: a random id made on first start and kept
 * in docker.state_dir, so a restarted miner (even after SIGKILL) knows its
 * own containers and networks by their polarise.instance label, and never
 * touches another miner's, whatever prefix that one uses.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = 'instance-id';
/** 128 random bits in hex. */
const ID = /^[0-9a-f]{32}$/;

export function loadOrCreateInstanceId(stateDir: string): string {
  const path = join(stateDir, FILE);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, randomBytes(16).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`docker.state_dir: cannot write ${path}: ${(err as Error).message}`);
  }
  const text = readFileSync(path, 'utf8').slice(0, 256).trim();
  if (!ID.test(text)) throw new Error(`docker.state_dir: ${path} does not hold an instance id (32 hex digits); remove it only if no container of this miner is left`);
  return text;
}
