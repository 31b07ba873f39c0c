/**
 * MinerService: Allocate, ListContainers, Release and RunChallenge over the
 * container manager, the SSH gateway and the challenge runner. Capacity is
 * checked and reserved under one mutex, so concurrent Allocates never
 * together exceed it; everything after the reservation runs concurrently.
 * Any failure midway removes what was created (container, network, listener,
 * port).
 */
import { randomBytes } from 'node:crypto';
import type {
  AllocateRequest,
  AllocateResponse,
  Container,
  ListContainersRequest,
  ListContainersResponse,
  ReleaseRequest,
  ReleaseResponse,
  RunChallengeRequest,
} from '../common/gen/polarise/v1/miner.js';
import type { Config } from '../common/config.js';
import { Failure, invalidArgument, notFound, permissionDenied, resourceExhausted } from '../common/errors.js';
import type { Identity } from '../common/identity.js';
import type { Logger } from '../common/logger.js';
import { parseMemory } from '../common/units.js';
import { parseAllocationRequest, type AllocationSpec } from './allocations/allocation-request.js';
import { AllocationRegistry, type Allocation } from './allocations/allocation-registry.js';
import { isOperator } from './server/authorization.js';
import { bridgeName } from './containers/host-firewall.js';
import { checkFits, pickCpuset, remaining, type CapacityPolicy, type HostResources } from './allocations/capacity.js';
import type { CapacitySnapshot } from './telemetry/miner-metrics.js';
import type { ChallengeTarget } from './challenges/challenge-runner.js';
import { PENDING_SUFFIX, recordFromLabels, type AllocationRecord } from './containers/container-labels.js';
import type { ContainerManager, ManagedContainer } from './containers/container-manager.js';
import type { EventSink, MinerHandlers } from './server/handlers.js';
import { Mutex } from './allocations/mutex.js';
import { generatePassword, hashPassword } from './ssh/passwords.js';
import { PortPool } from './allocations/port-pool.js';
import type { SshEndpoint, SshGateway } from './ssh/ssh-gateway.js';

export interface ChallengeRunnerLike {
  run(target: ChallengeTarget, request: RunChallengeRequest, sink: EventSink): Promise<void>;
}

export interface MinerServiceDeps {
  config: Config;
  manager: ContainerManager;
  gateway: SshGateway;
  hostKeyFingerprint: string;
  runner: ChallengeRunnerLike;
  log: Logger;
  now?: () => number;
}

/** Longest a single timer may wait (setTimeout's limit); longer leases re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Ports tried when the next one in the range is busy on the host. */
const MAX_BIND_TRIES = 8;

export class MinerService implements MinerHandlers {
  readonly registry = new AllocationRegistry();
  readonly ports: PortPool;
  private readonly mutex = new Mutex();
  private host: HostResources | undefined;
  private readonly policy: CapacityPolicy;
  private readonly log: Logger;
  private readonly now: () => number;
  private closed = false;
  /** Names torn down recently, so a reconcile pass that listed them just before is not fooled. */
  readonly recentlyRemoved = new Map<string, number>();

  constructor(private readonly deps: MinerServiceDeps) {
    const { config } = deps;
    this.ports = new PortPool(config.ssh.port_range.first, config.ssh.port_range.last);
    this.policy = {
      reserveCpus: config.docker.host_reserve_cpus,
      reserveMemoryBytes: parseMemory(config.docker.host_reserve_memory, 'docker.host_reserve_memory'),
      overcommitRatio: config.docker.overcommit_ratio,
      gpus: config.docker.gpu_count,
    };
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
  }

  /** The engine's CPUs and memory (asked once, then cached). */
  async hostResources(): Promise<HostResources> {
    this.host ??= await this.deps.manager.hostResources();
    return this.host;
  }

  /** What is allocated and what is left, derived from the managed containers. */
  async capacity(): Promise<CapacitySnapshot> {
    const host = await this.hostResources();
    const left = remaining(host, this.policy, this.registry.holdings());
    return {
      allocations: this.registry.all().length,
      cpusUsed: left.totalCpus - left.cpus,
      cpusTotal: left.totalCpus,
      memoryUsedBytes: left.totalMemoryBytes - left.memoryBytes,
      memoryTotalBytes: left.totalMemoryBytes,
    };
  }

  // ---- Allocate ---------------------------------------------------------

  async allocate(request: AllocateRequest, caller: Identity): Promise<AllocateResponse> {
    if (this.closed) throw new Failure('unavailable', 'the miner is shutting down');
    const { config, manager } = this.deps;
    const host = await this.hostResources();
    const spec = parseAllocationRequest(request, {
      defaultMemory: config.docker.default_memory,
      minMemoryBytes: parseMemory(config.docker.min_memory, 'docker.min_memory'),
      defaultCpuCount: config.docker.default_cpu_count,
      defaultLeaseSeconds: config.leases.default_seconds,
      maxLeaseSeconds: config.leases.max_seconds,
      hostCpus: host.cpus,
      hostMemoryBytes: host.memoryBytes,
    });

    const allocation = await this.mutex.run(() => this.reserve(spec, caller, host));
    const { record } = allocation;
    const log = this.log.child({ container: record.name });
    const started = performance.now();
    try {
      const password = generatePassword();
      // Three independent paths: hash → create the container (Docker
      // resolves its network only at start), the network, the SSH listener.
      const [created, endpoint, network] = await Promise.allSettled([
        hashPassword(password).then((hash) => {
          record.passwordHash = hash;
          return manager.createContainer({ record, deviceRequests: spec.deviceRequests });
        }),
        this.bindEndpoint(allocation),
        manager.createNetwork(record.network, bridgeName(record.name.slice(this.deps.config.docker.container_prefix.length))),
      ]);
      if (endpoint.status === 'fulfilled') allocation.endpoint = endpoint.value;
      if (created.status === 'fulfilled') allocation.id = created.value;
      for (const r of [created, endpoint, network]) if (r.status === 'rejected') throw r.reason;
      const prepared = performance.now();

      await manager.startAndVerify(allocation.id!, record);
      allocation.endpoint!.setTarget({
        containerId: allocation.id!,
        name: record.name,
        passwordHash: record.passwordHash,
        publicKeys: record.publicKeys,
        passwordTag: this.deps.gateway.memo.tag(password),
      });
      const containerReady = performance.now();
      await manager.markReady(allocation.id!, record.name);
      if (allocation.state !== 'pending') throw new Failure('unavailable', 'the allocation was removed while it was being created');
      allocation.state = 'ready';
      allocation.readyAt = this.now();
      this.armExpiry(allocation);
      log.info('allocated', {
        owner: caller.uri,
        memoryBytes: record.memoryBytes,
        cpuCount: record.cpuCount,
        cpuset: record.cpuset.join(','),
        sshPort: record.sshPort,
        expiresAt: record.expiresAt.toISOString(),
        ms: Math.round(performance.now() - started),
        phases: {
          createAndNetwork: Math.round(prepared - started),
          startAndInspect: Math.round(containerReady - prepared),
          ready: Math.round(performance.now() - containerReady),
        },
      });
      const container = this.toContainer(record, allocation.id!, 'running');
      return {
        containerId: allocation.id!,
        containerName: record.name,
        password,
        sshPort: record.sshPort,
        host: config.network.advertise_host,
        username: 'root',
        expiresAt: record.expiresAt,
        sshHostKeyFingerprint: this.deps.hostKeyFingerprint,
        container,
      };
    } catch (err) {
      log.warn('allocate failed; removing what was created', { error: err instanceof Error ? err.message : String(err) });
      await this.teardown(allocation, 'allocate failed').catch((e) => log.error('cleanup after a failed allocate failed', { error: String(e) }));
      throw err;
    }
  }

  /** Under the mutex: checks capacity and registers a pending allocation. */
  private reserve(spec: AllocationSpec, caller: Identity, host: HostResources): Allocation {
    const holdings = this.registry.holdings();
    checkFits(spec, host, this.policy, holdings);
    const port = this.ports.take();
    if (port === undefined) throw resourceExhausted(`no SSH port left: all ${this.ports.size} ports of ssh.port_range are in use`);
    const name = this.deps.config.docker.container_prefix + randomBytes(6).toString('hex');
    const created = new Date(this.now());
    const record: AllocationRecord = {
      name,
      owner: caller.uri,
      memoryBytes: spec.memoryBytes,
      cpuCount: spec.cpuCount,
      cpuset: pickCpuset(spec.cpuCount, host.cpus, holdings),
      devices: spec.devices,
      gpuCount: spec.gpuCount,
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
  private async bindEndpoint(allocation: Allocation): Promise<SshEndpoint> {
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

  // ---- teardown, expiry, adoption ------------------------------------------

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
    this.closed = true;
    for (const a of this.registry.all()) {
      clearTimeout(a.expiryTimer);
      await a.endpoint?.close();
    }
  }

  // ---- ListContainers, Release, RunChallenge -----------------------------

  async listContainers(_request: ListContainersRequest, caller: Identity): Promise<ListContainersResponse> {
    const operator = isOperator(caller);
    const found = await this.deps.manager.listContainers();
    const containers: { created: number; c: Container }[] = [];
    for (const m of found) {
      if (m.pending) continue;
      const record = recordFromLabels(m.dockerName, m.labels);
      if (typeof record === 'string') continue;
      if (!operator && record.owner !== caller.uri) continue;
      if (this.registry.byContainerName(record.name)?.state === 'removing') continue;
      containers.push({ created: record.createdAt.getTime(), c: this.toContainer(record, m.id, m.state) });
    }
    containers.sort((a, b) => a.created - b.created || a.c.containerName.localeCompare(b.c.containerName));
    return { containers: containers.map((x) => x.c) };
  }

  /** The caller's ready allocation named by `containerId`, or NOT_FOUND / PERMISSION_DENIED. */
  private owned(containerId: string, caller: Identity): Allocation {
    if (!containerId.trim()) throw invalidArgument('container_id', 'is required');
    const allocation = this.registry.find(containerId);
    if (!allocation || allocation.state !== 'ready' || !allocation.id) throw notFound(`no container "${containerId}" on this miner`);
    if (allocation.record.owner !== caller.uri && !isOperator(caller)) {
      throw permissionDenied(`container "${containerId}" belongs to someone else`);
    }
    return allocation;
  }

  async release(request: ReleaseRequest, caller: Identity): Promise<ReleaseResponse> {
    const allocation = this.owned(request.containerId, caller);
    await this.teardown(allocation, `released by ${caller.uri}`);
    return { containerId: allocation.id! };
  }

  async runChallenge(request: RunChallengeRequest, caller: Identity, sink: EventSink): Promise<void> {
    const allocation = this.owned(request.containerId, caller);
    await this.deps.runner.run({ containerId: allocation.id! }, request, sink);
  }

  private toContainer(record: AllocationRecord, id: string, state: string): Container {
    return {
      containerId: id,
      containerName: record.name,
      state,
      memoryBytes: record.memoryBytes,
      cpuCount: record.cpuCount,
      devices: record.devices,
      sshPort: record.sshPort,
      owner: record.owner,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      host: this.deps.config.network.advertise_host,
      username: 'root',
    };
  }
}
