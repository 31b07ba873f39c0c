/**
 * The allocations this miner holds and their lifecycle: reservation under
 * capacity (one at a time), the SSH port and listener, lease expiry,
 * teardown (idempotent, retried by the reconciler), and adoption of what a
 * previous run left in Docker.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../../common/config.js';
import { Failure, resourceExhausted } from '../../common/errors.js';
import type { Identity } from '../../common/identity.js';
import type { Logger } from '../../common/logger.js';
import { PENDING_SUFFIX, recordFromLabels, type AllocationRecord } from '../containers/container-labels.js';
import type { ContainerManager, ManagedContainer } from '../containers/container-manager.js';
import { HostFirewall } from '../containers/host-firewall.js';
import type { SshEndpoint, SshGateway } from '../ssh/ssh-gateway.js';
import type { AllocationSpec } from './allocation-request.js';
import { AllocationRegistry, type Allocation } from './allocation-registry.js';
import { checkFits, pickCpuset, type CapacityPolicy, type HostResources } from './capacity.js';
import { Mutex } from './mutex.js';
import { assignGpus } from './gpu-pool.js';
import { checkOwnerLimits, ownerLimitsFor, usageOf } from './owner-limits.js';
import { PortPool } from './port-pool.js';

/** Longest a single timer may wait (setTimeout's limit); longer leases re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Ports tried when the next one in the range is busy on the host. */
const MAX_BIND_TRIES = 8;

export interface AllocationsDeps {
  config: Config;
  manager: ContainerManager;
  gateway: SshGateway;
  policy: CapacityPolicy;
  log: Logger;
  now: () => number;
  /** The host firewall; by default one made from the config (the miner's own). */
  isolation?: HostFirewall;
}

export class Allocations {
  readonly registry = new AllocationRegistry();
  readonly ports: PortPool;
  /** Names torn down recently, so a reconcile pass that listed them just before is not fooled. */
  readonly recentlyRemoved = new Map<string, number>();
  /** Network isolation: new allocations are refused while it is not in place (the reconciler re-checks it). */
  readonly isolation: HostFirewall;
  private readonly mutex = new Mutex();
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly deps: AllocationsDeps) {
    this.ports = new PortPool(deps.config.ssh.port_range.first, deps.config.ssh.port_range.last);
    this.log = deps.log;
    this.now = deps.now;
    this.isolation = deps.isolation ?? new HostFirewall({ egressAllow: deps.config.network.egress_allow }, deps.log.child({ part: 'firewall' }));
  }

  /**
   * Checks isolation, capacity and the caller's own caps (limits.*) and
   * registers a pending allocation, one caller at a time so that none
   * together exceed the host's capacity or one identity's caps.
   */
  reserve(spec: AllocationSpec, caller: Identity, host: HostResources): Promise<Allocation> {
    return this.mutex.run(() => this.reserveNow(spec, caller, host));
  }

  private reserveNow(spec: AllocationSpec, caller: Identity, host: HostResources): Allocation {
    this.isolation.assertInPlace();
    const holdings = this.registry.holdings();
    checkFits(spec, host, this.deps.policy, holdings);
    const usage = usageOf(caller.uri, this.registry.all().map((a) => a.record));
    checkOwnerLimits(spec, usage, ownerLimitsFor(this.deps.config.limits, caller.uri), caller.uri);
    const name = this.deps.config.docker.container_prefix + randomBytes(6).toString('hex');
    const held = new Map(this.registry.all().map((a) => [a.record.name, a.record.gpuIds] as const));
    const gpuIds = assignGpus(this.deps.config.docker.gpu_count, held, name, spec.deviceRequests);
    const port = this.ports.take();
    if (port === undefined) throw resourceExhausted(`no SSH port left: all ${this.ports.size} ports of ssh.port_range are in use`);
    const created = new Date(this.now());
    const record: AllocationRecord = {
      name,
      owner: caller.uri,
      memoryBytes: spec.memoryBytes,
      cpuCount: spec.cpuCount,
      cpuset: pickCpuset(spec.cpuCount, host.cpus, holdings),
      devices: spec.devices,
      gpuCount: spec.gpuCount,
      gpuIds,
      sshPort: port,
      passwordHash: '',
      publicKeys: spec.publicKeys,
      network: name,
      createdAt: created,
      expiresAt: new Date(created.getTime() + spec.leaseSeconds * 1000),
    };
    const allocation: Allocation = { record, state: 'pending', ownsPort: true };
    this.registry.add(allocation);
    return allocation;
  }

  /** Binds the allocation's SSH listener, moving to another port if the host has its port busy. */
  async bindEndpoint(allocation: Allocation): Promise<SshEndpoint> {
    const busy = new Set<number>();
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.deps.gateway.listen(allocation.record.sshPort);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' || attempt >= MAX_BIND_TRIES) {
          throw new Failure(code === 'EADDRINUSE' ? 'resource_exhausted' : 'internal', `cannot open an SSH listener on port ${allocation.record.sshPort}: ${(err as Error).message}`);
        }
        this.log.warn('ssh port busy on the host; trying the next one', { port: allocation.record.sshPort });
        busy.add(allocation.record.sshPort);
        const next = this.ports.take(busy);
        this.ports.release(allocation.record.sshPort);
        if (next === undefined) throw resourceExhausted('no SSH port left in ssh.port_range');
        allocation.record.sshPort = next;
      }
    }
  }

  /** Removes everything of an allocation: listener, container, network, port. Idempotent. */
  teardown(allocation: Allocation, reason: string): Promise<void> {
    if (allocation.removal) return allocation.removal;
    allocation.state = 'removing';
    clearTimeout(allocation.expiryTimer);
    const { manager } = this.deps;
    const { record } = allocation;
    allocation.removal = (async () => {
      await allocation.endpoint?.close();
      await manager.removeContainer(allocation.id ?? record.name + PENDING_SUFFIX);
      await manager.removeNetwork(record.network);
      if (allocation.ownsPort) this.ports.release(record.sshPort);
      this.registry.delete(allocation);
      const now = this.now();
      this.recentlyRemoved.set(record.name, now);
      for (const [name, at] of this.recentlyRemoved) if (at < now - 60_000) this.recentlyRemoved.delete(name);
      this.log.info('removed', { container: record.name, reason });
    })();
    allocation.removal.catch(() => {
      allocation.removal = undefined; // the reconciler tries again
    });
    return allocation.removal;
  }

  armExpiry(allocation: Allocation): void {
    clearTimeout(allocation.expiryTimer);
    const wait = allocation.record.expiresAt.getTime() - this.now();
    if (wait <= 0) {
      void this.teardown(allocation, 'lease expired').catch((err) => this.log.warn('expiry removal failed', { error: String(err) }));
      return;
    }
    allocation.expiryTimer = setTimeout(() => this.armExpiry(allocation), Math.min(wait + 5, MAX_TIMER_MS));
    allocation.expiryTimer.unref();
  }

  /** Takes over a ready container found in Docker (after a restart). */
  async adopt(container: ManagedContainer): Promise<void> {
    const record = recordFromLabels(container.dockerName, container.labels);
    if (typeof record === 'string') {
      this.log.warn('removing a managed container with unreadable labels', { container: container.dockerName, problem: record });
      await this.deps.manager.removeContainer(container.id);
      const network = container.labels['polarise.network'];
      if (network) await this.deps.manager.removeNetwork(network);
      return;
    }
    const allocation: Allocation = { record, id: container.id, state: 'ready', readyAt: this.now(), ownsPort: this.ports.claim(record.sshPort) };
    this.registry.add(allocation);
    if (record.expiresAt.getTime() <= this.now()) {
      await this.teardown(allocation, 'lease expired while the miner was down');
      return;
    }
    if (container.state !== 'running') {
      await this.deps.manager.start(container.id).catch((err) => this.log.warn('could not start an adopted container', { container: record.name, error: String(err) }));
    }
    await this.ensureEndpoint(allocation);
    this.armExpiry(allocation);
    this.log.info('adopted', { container: record.name, sshPort: record.sshPort, expiresAt: record.expiresAt.toISOString() });
  }

  /** Re-opens an allocation's SSH listener on the port its label names, if it is not open. */
  async ensureEndpoint(allocation: Allocation): Promise<void> {
    if (allocation.endpoint || allocation.state !== 'ready' || !allocation.id) return;
    const { record } = allocation;
    try {
      const endpoint = await this.deps.gateway.listen(record.sshPort);
      endpoint.setTarget({ containerId: allocation.id, name: record.name, passwordHash: record.passwordHash, publicKeys: record.publicKeys });
      if (allocation.state !== 'ready') {
        await endpoint.close();
        return;
      }
      allocation.endpoint = endpoint;
    } catch (err) {
      this.log.error('cannot re-open the SSH listener of an allocation (will retry)', { container: record.name, port: record.sshPort, error: (err as Error).message });
    }
  }

  /** Closes every SSH listener; containers and leases stay (SIGTERM). */
  async close(): Promise<void> {
    for (const a of this.registry.all()) {
      clearTimeout(a.expiryTimer);
      await a.endpoint?.close();
    }
  }
}
