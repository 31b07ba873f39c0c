/**
 * MinerService: Allocate, ListContainers, Release and RunChallenge over the
 * container manager, the SSH gateway and the challenge runner. Capacity is
 * checked and reserved under one mutex, so concurrent Allocates never
 * together exceed it; everything after the reservation runs concurrently.
 * Any failure midway removes what was created (container, network, listener,
 * port).
 */
import type {
  AllocateRequest,
  AllocateResponse,
  Container,
  GetCapacityRequest,
  GetCapacityResponse,
  ListContainersRequest,
  ListContainersResponse,
  ReleaseRequest,
  ReleaseResponse,
  RunChallengeRequest,
} from '../common/gen/polarise/v1/miner.js';
import type { Config } from '../common/config.js';
import { Failure, errorMessage, invalidArgument, notFound } from '../common/errors.js';
import { FIELD_LIMITS, capLength } from '../common/field-limits.js';
import { argvDigest } from '../common/argv-digest.js';
import type { Identity } from '../common/identity.js';
import type { Logger } from '../common/logger.js';
import { parseMemory } from '../common/units.js';
import { CONTRACT_VERSION, SOFTWARE_VERSION } from '../common/versions.js';
import { parseAllocationRequest, type AllocationSpec } from './allocations/allocation-request.js';
import type { Allocation, AllocationRegistry } from './allocations/allocation-registry.js';
import { Allocations } from './allocations/allocations.js';
import { isOperator } from './server/authorization.js';
import { bridgeName } from './containers/host-firewall.js';
import { remaining, type CapacityPolicy, type HostResources } from './allocations/capacity.js';
import type { CapacitySnapshot } from './telemetry/miner-metrics.js';
import type { ChallengeTarget } from './challenges/challenge-runner.js';
import { recordFromLabels, type AllocationRecord } from './containers/container-labels.js';
import type { ContainerManager } from './containers/container-manager.js';
import type { EventSink, MinerHandlers } from './server/handlers.js';
import { generatePassword, hashPassword } from './ssh/passwords.js';
import { gpuDeviceRequests } from './allocations/gpu-pool.js';
import type { SshGateway } from './ssh/ssh-gateway.js';

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

export class MinerService implements MinerHandlers {
  readonly allocations: Allocations;
  private host: HostResources | undefined;
  private readonly policy: CapacityPolicy;
  private readonly log: Logger;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly deps: MinerServiceDeps) {
    const { config } = deps;
    this.policy = {
      reserveCpus: config.docker.host_reserve_cpus,
      reserveMemoryBytes: parseMemory(config.docker.host_reserve_memory, 'docker.host_reserve_memory'),
      overcommitRatio: config.docker.overcommit_ratio,
      gpus: config.docker.gpu_count,
    };
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    this.allocations = new Allocations({ config, manager: deps.manager, gateway: deps.gateway, policy: this.policy, log: deps.log, now: this.now });
  }

  get registry(): AllocationRegistry {
    return this.allocations.registry;
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

  /** The offer as this miner states it (a claim: validators prove it). */
  async getCapacity(_request: GetCapacityRequest, _caller: Identity): Promise<GetCapacityResponse> {
    const host = await this.hostResources();
    const left = remaining(host, this.policy, this.registry.holdings());
    return {
      totalCpus: left.totalCpus,
      freeCpus: left.cpus,
      totalMemoryBytes: left.totalMemoryBytes,
      freeMemoryBytes: left.memoryBytes,
      totalGpus: this.policy.gpus,
      freeGpus: left.gpus,
      gpuModels: [],
      maxCpusPerAllocation: Math.floor(Math.min(host.cpus, left.totalCpus)),
      maxMemoryBytesPerAllocation: left.totalMemoryBytes,
      allocations: this.registry.all().length,
      minerVersion: SOFTWARE_VERSION,
      contractVersion: CONTRACT_VERSION,
    };
  }

  // ---- Allocate ---------------------------------------------------------

  async allocate(request: AllocateRequest, caller: Identity): Promise<AllocateResponse> {
    if (this.closed) throw new Failure('unavailable', 'the miner is shutting down');
    const host = await this.hostResources();
    const spec = this.parseRequest(request, host);
    const allocation = await this.allocations.reserve(spec, caller, host);
    const log = this.log.child({ container: allocation.record.name });
    const started = performance.now();
    try {
      const password = generatePassword();
      await this.prepare(allocation, spec, password);
      const prepared = performance.now();
      await this.startAndOpen(allocation, password);
      const containerReady = performance.now();
      await this.markReady(allocation);
      log.info('allocated', {
        owner: caller.uri,
        memoryBytes: allocation.record.memoryBytes,
        cpuCount: allocation.record.cpuCount,
        cpuset: allocation.record.cpuset.join(','),
        sshPort: allocation.record.sshPort,
        expiresAt: allocation.record.expiresAt.toISOString(),
        ms: Math.round(performance.now() - started),
        phases: {
          createAndNetwork: Math.round(prepared - started),
          startAndInspect: Math.round(containerReady - prepared),
          ready: Math.round(performance.now() - containerReady),
        },
      });
      return this.allocateResponse(allocation, password);
    } catch (err) {
      log.warn('allocate failed; removing what was created', { error: errorMessage(err) });
      await this.allocations.teardown(allocation, 'allocate failed').catch((e: unknown) => log.error('cleanup after a failed allocate failed', { error: errorMessage(e) }));
      throw err;
    }
  }

  private parseRequest(request: AllocateRequest, host: HostResources): AllocationSpec {
    const { config } = this.deps;
    return parseAllocationRequest(request, {
      defaultMemory: config.docker.default_memory,
      minMemoryBytes: parseMemory(config.docker.min_memory, 'docker.min_memory'),
      defaultCpuCount: config.docker.default_cpu_count,
      defaultLeaseSeconds: config.leases.default_seconds,
      maxLeaseSeconds: config.leases.max_seconds,
      hostCpus: host.cpus,
      hostMemoryBytes: host.memoryBytes,
    });
  }

  /**
   * Three independent paths at once: hash → create the container (Docker
   * resolves its network only at start), the network, the SSH listener.
   */
  private async prepare(allocation: Allocation, spec: AllocationSpec, password: string): Promise<void> {
    const { manager, config } = this.deps;
    const { record } = allocation;
    const [created, endpoint, network] = await Promise.allSettled([
      hashPassword(password).then((hash) => {
        record.passwordHash = hash;
        // Explicit device IDs from the pool, never a count the runtime fills with any GPU.
        return manager.createContainer({ record, deviceRequests: gpuDeviceRequests(record.gpuIds) });
      }),
      this.allocations.bindEndpoint(allocation),
      manager.createNetwork(record.network, bridgeName(record.name.slice(config.docker.container_prefix.length))),
    ]);
    if (endpoint.status === 'fulfilled') allocation.endpoint = endpoint.value;
    if (created.status === 'fulfilled') allocation.id = created.value;
    for (const r of [created, endpoint, network]) if (r.status === 'rejected') throw r.reason;
  }

  /** Starts the container (limits read back), then points its SSH listener at it. */
  private async startAndOpen(allocation: Allocation, password: string): Promise<void> {
    const { record } = allocation;
    await this.deps.manager.startAndVerify(allocation.id!, record);
    allocation.endpoint!.setTarget({
      containerId: allocation.id!,
      name: record.name,
      passwordHash: record.passwordHash,
      publicKeys: record.publicKeys,
      passwordTag: this.deps.gateway.memo.tag(password),
    });
  }

  private async markReady(allocation: Allocation): Promise<void> {
    await this.deps.manager.markReady(allocation.id!, allocation.record.name);
    if (allocation.state !== 'pending') throw new Failure('unavailable', 'the allocation was removed while it was being created');
    allocation.state = 'ready';
    allocation.readyAt = this.now();
    this.allocations.armExpiry(allocation);
  }

  private allocateResponse(allocation: Allocation, password: string): AllocateResponse {
    const { record } = allocation;
    return {
      containerId: allocation.id!,
      containerName: record.name,
      password,
      sshPort: record.sshPort,
      host: this.deps.config.network.advertise_host,
      username: 'root',
      expiresAt: record.expiresAt,
      sshHostKeyFingerprint: this.deps.hostKeyFingerprint,
      container: this.toContainer(record, allocation.id!, 'running'),
    };
  }

  /** Closes every SSH listener; containers and leases stay (SIGTERM). */
  async close(): Promise<void> {
    this.closed = true;
    await this.allocations.close();
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
  /**
   * Someone else's container is NOT_FOUND too, with the same message: a
   * caller learns nothing about containers it does not own.
   */
  private owned(containerId: string, caller: Identity): Allocation {
    if (!capLength('container_id', containerId, FIELD_LIMITS.container_id).trim()) throw invalidArgument('container_id', 'is required');
    const allocation = this.registry.find(containerId);
    const visible = allocation && (allocation.record.owner === caller.uri || isOperator(caller));
    if (!visible || allocation.state !== 'ready' || !allocation.id) throw notFound(`no container "${containerId}" of yours on this miner`);
    return allocation;
  }

  async release(request: ReleaseRequest, caller: Identity): Promise<ReleaseResponse> {
    const allocation = this.owned(request.containerId, caller);
    await this.allocations.teardown(allocation, `released by ${caller.uri}`);
    return { containerId: allocation.id! };
  }

  async runChallenge(request: RunChallengeRequest, caller: Identity, sink: EventSink): Promise<void> {
    // Who ran what where, for every caller (operators too), refused ones included; a digest, not the argv, which may carry secrets.
    const who = { caller: caller.uri, argvSha256: argvDigest(request.command), args: request.command.length };
    let allocation: Allocation;
    try {
      allocation = this.owned(request.containerId, caller);
    } catch (err) {
      this.log.info('runChallenge refused', { ...who, container: request.containerId.slice(0, FIELD_LIMITS.container_id), error: errorMessage(err).slice(0, 300) });
      throw err;
    }
    this.log.info('runChallenge', { ...who, container: allocation.record.name });
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
