/**
 * Keeps the miner's view and Docker in step. On start it adopts what the
 * previous run left (ready containers get their SSH listener back on the
 * port their label names, with the same credentials, and their expiry
 * re-armed, after what the previous run's calls left running in them has
 * been ended; half-created containers and orphaned networks are removed).
 * While the miner runs it does the same every leases.reconcile_interval_seconds
 * and reclaims expired leases (each lease also has its own timer; this is the
 * backstop). Every pass first re-checks the host firewall's isolation rules
 * and restores missing ones; while they cannot be restored, Allocate is
 * refused (host-firewall.ts). That check runs even when Docker is down.
 * It only ever sees what this miner instance made (ContainerManager lists
 * by instance id): another miner's containers on the same engine, even
 * half-created ones under the same prefix, are never adopted or removed.
 */
import type { Logger } from '../../common/logger.js';
import { LABELS } from '../containers/container-labels.js';
import type { ContainerManager } from '../containers/container-manager.js';
import type { Allocations } from './allocations.js';
import { errorMessage } from '../../common/errors.js';
import { repeatEvery, type Repeating } from '../../common/repeat-every.js';

export class Reconciler {
  private repeating: Repeating | undefined;
  private running: Promise<void> | undefined;
  /** Unlabelled leftovers of an older miner are claimed once, on the first pass that reaches Docker. */
  private claimedUnlabelled = false;

  constructor(
    private readonly allocations: Allocations,
    private readonly manager: ContainerManager,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** Runs before a container is adopted (ends what a previous miner's calls left running in it); must not throw. */
    private readonly beforeAdopt: (containerId: string) => Promise<void> = async () => undefined,
  ) {}

  /** One pass; concurrent calls share it. */
  reconcile(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  start(): void {
    this.repeating = repeatEvery(this.intervalMs, () => this.reconcile(), (err) => this.log.warn('reconcile failed', { error: errorMessage(err) }));
  }

  stop(): void {
    this.repeating?.stop();
  }

  private async pass(): Promise<void> {
    await this.allocations.isolation.ensure();
    const { registry } = this.allocations;
    if (!this.claimedUnlabelled) {
      const claimed = await this.manager.claimUnlabelled();
      this.claimedUnlabelled = true;
      if (claimed.containers + claimed.networks > 0) this.log.info('took over containers and networks an older miner left under this prefix', claimed);
    }
    const listedAt = this.now();
    const containers = await this.manager.listContainers();
    const networks = await this.manager.listNetworks();
    const seen = new Set<string>();

    for (const c of containers) {
      const baseName = c.pending ? c.dockerName.slice(0, -'.pending'.length) : c.dockerName;
      seen.add(baseName);
      const known = registry.byContainerName(baseName);
      if (!known && (this.allocations.recentlyRemoved.get(baseName) ?? -Infinity) >= listedAt - 60_000) continue;
      if (c.pending) {
        if (known) continue; // being created right now
        this.log.info('removing a half-created container', { container: c.dockerName });
        await this.manager.removeContainer(c.id);
        const network = c.labels[LABELS.network];
        if (network) await this.manager.removeNetwork(network);
        continue;
      }
      if (!known) {
        await this.beforeAdopt(c.id);
        await this.allocations.adopt(c);
        continue;
      }
      if (known.state === 'ready') {
        if (known.record.expiresAt.getTime() <= this.now()) {
          await this.allocations.teardown(known, 'lease expired');
        } else {
          await this.allocations.ensureEndpoint(known);
        }
      } else if (known.state === 'removing' && !known.removal) {
        await this.allocations.teardown(known, 'retrying removal').catch(() => undefined);
      }
    }

    // Allocations whose container disappeared (removed behind the miner's back).
    for (const a of registry.all()) {
      if (seen.has(a.record.name) || a.state === 'pending' || (a.readyAt ?? 0) > listedAt) continue;
      this.log.warn('container vanished; freeing its allocation', { container: a.record.name });
      await this.allocations.teardown(a, 'container vanished').catch(() => undefined);
    }

    // Networks that no container and no allocation in progress uses.
    for (const n of networks) {
      if (seen.has(n.name) || registry.byContainerName(n.name)) continue;
      this.log.info('removing an orphaned network', { network: n.name });
      await this.manager.removeNetwork(n.id).catch((err) => this.log.warn('could not remove network', { network: n.name, error: String(err) }));
    }
  }
}
