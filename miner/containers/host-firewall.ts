/**
 * Keeps containers away from the host's own services. Docker's "internal"
 * networks stop forwarding, but a container can still reach every host
 * service listening on 0.0.0.0 through its network's gateway address (the
 * INPUT chain). Every allocation's bridge is named with BRIDGE_PREFIX, and
 * one rule drops all input from such bridges:
 *   iptables -I INPUT -i pz+ -j DROP
 * The rule is idempotent and stays across restarts (containers stay too).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../../common/logger.js';

const run = promisify(execFile);

/** Interface names are at most 15 characters: "pz" + 12 hex digits. */
export const BRIDGE_PREFIX = 'pz';

export function bridgeName(suffix: string): string {
  return (BRIDGE_PREFIX + suffix.replace(/[^a-zA-Z0-9]/g, '')).slice(0, 15);
}

const RULE = ['INPUT', '-i', `${BRIDGE_PREFIX}+`, '-j', 'DROP'];

/** Adds the rule when missing. Returns false (and logs) when iptables is not usable. */
export async function blockHostAccess(log: Logger): Promise<boolean> {
  try {
    await run('iptables', ['-w', '5', '-C', ...RULE]);
    return true;
  } catch {
    // Not there yet (or no iptables): try to add it.
  }
  try {
    await run('iptables', ['-w', '5', '-I', ...RULE]);
    log.info('containers may not reach host services', { rule: `iptables -I ${RULE.join(' ')}` });
    return true;
  } catch (err) {
    log.warn('could not add the iptables rule that keeps containers from host services; they can reach ports the host listens on', {
      error: (err as Error).message.split('\n')[0],
    });
    return false;
  }
}
