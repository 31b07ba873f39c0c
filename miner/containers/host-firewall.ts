/**
 * Keeps containers away from the host's own services and from private
 * networks, over IPv4 and IPv6 (the rules and why: isolation-rules.ts).
 * Docker's "internal" networks stop forwarding, but a container can still
 * reach every host service listening on 0.0.0.0 or :: through its
 * network's gateway (the INPUT chain). Every allocation's bridge is named
 * with BRIDGE_PREFIX, so a few rules cover all of them, also the ones made
 * later.
 *
 * Fails closed: `ensure` lists the rules, adds what is missing, and records
 * whether isolation is in place; Allocations refuse new allocations while
 * it is not (`assertInPlace`). The lease reconciler calls `ensure` every
 * pass, so a rule someone deleted comes back within one reconcile interval,
 * and a firewall that cannot be fixed is logged and keeps new allocations out.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { unavailable } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { BRIDGE_PREFIX, familyPlan, ruleLine, type Family, type FamilyPlan, type Rule } from './isolation-rules.js';

export { BRIDGE_PREFIX } from './isolation-rules.js';

/** Interface names are at most 15 characters: "pz" + 12 hex digits. */
export function bridgeName(suffix: string): string {
  return (BRIDGE_PREFIX + suffix.replace(/[^a-zA-Z0-9]/g, '')).slice(0, 15);
}

/** Runs a firewall tool; rejects with its first stderr line on a non-zero exit. */
export type RunTool = (binary: string, args: string[]) => Promise<string>;

export const runTool: RunTool = (binary, args) =>
  new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: 15_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      const detail = code === 'ENOENT' ? 'not installed' : String(stderr).trim().split('\n')[0] || err.message.split('\n')[0];
      reject(new Error(`${binary} ${args.filter((a) => a !== '-w' && a !== '5').join(' ')}: ${detail}`));
    });
  });

export interface FirewallOptions {
  /** network.egress_allow */
  egressAllow: readonly string[];
  /** Whether the kernel has IPv6 (default: /proc/sys/net/ipv6 exists). Without it there is nothing to filter. */
  ipv6?: boolean;
  run?: RunTool;
  now?: () => number;
}

export interface IsolationStatus {
  inPlace: boolean;
  /** Why isolation is not in place (for the log, never sent to clients). */
  problems: string[];
  /** Rules this check had to add. */
  added: string[];
  /** When the last check finished (ms since epoch); 0 before the first. */
  checkedAt: number;
}

/** Repeats of "still missing" are logged at most this often. */
const REPEAT_LOG_MS = 60_000;

export class HostFirewall {
  private status: IsolationStatus = { inPlace: false, problems: ['not checked yet'], added: [], checkedAt: 0 };
  private running: Promise<IsolationStatus> | undefined;
  private lastProblemLog = -Infinity;
  private readonly run: RunTool;
  private readonly now: () => number;
  private readonly families: Family[];

  constructor(
    private readonly options: FirewallOptions,
    private readonly log: Logger,
  ) {
    this.run = options.run ?? runTool;
    this.now = options.now ?? Date.now;
    this.families = (options.ipv6 ?? existsSync('/proc/sys/net/ipv6')) ? ['ipv4', 'ipv6'] : ['ipv4'];
  }

  get current(): IsolationStatus {
    return this.status;
  }

  /** Checks every rule and adds the missing ones; concurrent calls share one check. Never throws. */
  ensure(): Promise<IsolationStatus> {
    this.running ??= this.check().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Throws UNAVAILABLE unless the last check found (or made) every rule in place. */
  assertInPlace(): void {
    if (this.status.inPlace) return;
    throw unavailable(
      'network isolation between allocations and the host is not in place on this miner; it takes no new allocations until its firewall rules are restored (try again later)',
    );
  }

  private async check(): Promise<IsolationStatus> {
    const problems: string[] = [];
    const added: string[] = [];
    for (const family of this.families) {
      try {
        added.push(...(await this.ensureFamily(family)));
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    const previous = this.status;
    this.status = { inPlace: problems.length === 0, problems, added, checkedAt: this.now() };
    this.report(previous, this.status);
    return this.status;
  }

  /** Adds what one family lacks; returns the rules it added. Throws when a rule cannot be put in place. */
  private async ensureFamily(family: Family): Promise<string[]> {
    const binary = family === 'ipv4' ? 'iptables' : 'ip6tables';
    const listing = await this.list(binary);
    const plan = familyPlan(family, listing, this.options.egressAllow);
    const added: string[] = [];
    for (const chain of plan.chains) {
      if (listing.has(`-N ${chain}`)) continue;
      await this.run(binary, ['-w', '5', '-N', chain]).catch(async (err: Error) => {
        // Another miner may have made it meanwhile.
        if (!(await this.list(binary)).has(`-N ${chain}`)) throw err;
      });
      added.push(`${binary} -N ${chain}`);
    }
    for (const rule of plan.rules) {
      if (listing.has(ruleLine(rule)) || (await this.holds(plan, rule))) continue;
      await this.run(binary, ['-w', '5', rule.at === 'top' ? '-I' : '-A', rule.chain, ...rule.spec]);
      added.push(`${binary} ${ruleLine(rule)}`);
    }
    return added;
  }

  /** The filter table as `-S` prints it, one line per rule or chain. */
  private async list(binary: string): Promise<Set<string>> {
    const text = await this.run(binary, ['-w', '5', '-S']);
    return new Set(text.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter(Boolean));
  }

  /** `-C`: the authority when the listing prints a rule differently than written. */
  private async holds(plan: FamilyPlan, rule: Rule): Promise<boolean> {
    try {
      await this.run(plan.binary, ['-w', '5', '-C', rule.chain, ...rule.spec]);
      return true;
    } catch {
      return false;
    }
  }

  private report(previous: IsolationStatus, now: IsolationStatus): void {
    const first = previous.checkedAt === 0;
    if (now.inPlace) {
      if (first) this.log.info('network isolation in place: allocations cannot reach host services or private networks', { families: this.families, added: now.added });
      else if (!previous.inPlace) this.log.info('network isolation restored; allocations are accepted again', { added: now.added });
      else if (now.added.length) this.log.warn('network isolation rules were missing and are restored', { added: now.added });
      return;
    }
    if (previous.inPlace || first || this.now() - this.lastProblemLog >= REPEAT_LOG_MS) {
      this.lastProblemLog = this.now();
      this.log.error('network isolation is NOT in place: new allocations are refused until the firewall rules can be restored', {
        problems: now.problems,
        added: now.added,
      });
    }
  }
}
