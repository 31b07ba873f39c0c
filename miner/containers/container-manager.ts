/**
 * Hardened containers over dockerode. One container per allocation, on a
 * bridge network of its own, with limits read back from inspect before the
 * container is handed out. Only plain types cross this module's boundary.
 */
import { dockerFailure } from './docker-errors.js';
import { hardenedHostConfig } from './hardened-host-config.js';
import { blockDeviceOf, dockerRootDir, ioHostConfig, isStorageOptUnsupported, type IoLimits } from './disk-limits.js';
import type Docker from 'dockerode';
import { errorMessage, Failure } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { DeviceRequestSpec } from '../allocations/allocation-request.js';
import { containerLabels, LABELS, madeBy, networkLabels, PENDING_SUFFIX, type AllocationRecord, type Maker } from './container-labels.js';

export interface ContainerManagerOptions {
  image: string;
  /** container_prefix (the polarise.miner label) and instance id (the polarise.instance label). */
  maker: Maker;
  pidsLimit: number;
  /** Internal networks have no route out of the host (no NAT, no gateway). */
  internalNetwork: boolean;
  /** docker.disk_limit (StorageOpt size where the driver supports it) and docker.io_*. */
  disk: { layerBytes: number; io: IoLimits };
}

export interface ContainerPlan {
  record: AllocationRecord;
  deviceRequests: DeviceRequestSpec[];
}

export interface ManagedContainer {
  id: string;
  /** Docker's name, without the leading "/". */
  dockerName: string;
  /** True while the container is not yet handed out (name ends with PENDING_SUFFIX). */
  pending: boolean;
  state: string;
  labels: Record<string, string>;
}

export interface ManagedNetwork {
  id: string;
  name: string;
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

export class ContainerManager {
  /** Containers and networks without an instance id that this miner took over at start (ids). */
  private readonly claimed = new Set<string>();
  /** Whether the storage driver takes StorageOpt size; undefined until the first create tells. */
  private storageQuota: boolean | undefined;
  private device: Promise<string | undefined> | undefined;
  private weightWarned = false;

  constructor(
    private readonly docker: Docker,
    private readonly options: ContainerManagerOptions,
    private readonly log: Logger,
  ) {}

  get maker(): Maker {
    return this.options.maker;
  }

  /** The engine's CPUs and memory. */
  async hostResources(): Promise<{ cpus: number; memoryBytes: number }> {
    try {
      const info = (await this.docker.info()) as { NCPU: number; MemTotal: number };
      return { cpus: info.NCPU, memoryBytes: info.MemTotal };
    } catch (err) {
      throw dockerFailure(err, 'docker info');
    }
  }

  async imageExists(): Promise<boolean> {
    try {
      await this.docker.getImage(this.options.image).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw dockerFailure(err, 'inspect image');
    }
  }

  /** `bridge` names the Linux bridge (see host-firewall.ts). */
  async createNetwork(name: string, bridge: string): Promise<void> {
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        Internal: this.options.internalNetwork,
        CheckDuplicate: true,
        Options: { 'com.docker.network.bridge.name': bridge },
        Labels: networkLabels(this.options.maker, name),
      });
    } catch (err) {
      throw dockerFailure(err, `create network ${name}`);
    }
  }

  /**
   * Creates the container, named `<name>.pending` until markReady. Docker
   * resolves the network only at start, so this may run while the network is
   * still being created. Returns the container's id.
   */
  async createContainer(plan: ContainerPlan): Promise<string> {
    const { record } = plan;
    const spec: Docker.ContainerCreateOptions = {
      name: record.name + PENDING_SUFFIX,
      Hostname: record.name.slice(0, 63).replace(/[^a-zA-Z0-9-]/g, '-').replace(/^-+|-+$/g, '') || 'polarise',
      Image: this.options.image,
      // The container's own command only keeps it alive; renters work
      // through SSH sessions (docker exec). Init reaps their orphans.
      Entrypoint: ['sleep'],
      Cmd: ['infinity'],
      WorkingDir: '/root',
      Labels: containerLabels(this.options.maker, record),
      HostConfig: { ...hardenedHostConfig(plan, this.options.pidsLimit), ...ioHostConfig(this.options.disk.io, await this.ioDevice()) },
    };
    const quota = this.options.disk.layerBytes;
    try {
      if (this.storageQuota === false) return (await this.docker.createContainer(spec)).id;
      try {
        const id = (await this.docker.createContainer({ ...spec, HostConfig: { ...spec.HostConfig, StorageOpt: { size: String(quota) } } })).id;
        this.storageQuota = true;
        return id;
      } catch (err) {
        if (!isStorageOptUnsupported(err)) throw err;
        this.storageQuota = false;
        this.log.info('the storage driver cannot limit a writable layer (--storage-opt size); the disk guard bounds it instead', { reason: errorMessage(err).slice(0, 200) });
        return (await this.docker.createContainer(spec)).id;
      }
    } catch (err) {
      throw dockerFailure(err, `create container ${record.name}`);
    }
  }

  /** The disk under Docker's data that block I/O limits apply to (found once; undefined: none can be). */
  private ioDevice(): Promise<string | undefined> {
    this.device ??= dockerRootDir(this.docker)
      .catch((err: unknown) => {
        this.device = undefined; // asked again next time
        throw dockerFailure(err, 'docker info');
      })
      .then((dir) => {
        const found = blockDeviceOf(dir);
        if ('reason' in found) this.log.warn('block I/O is not throttled', { reason: found.reason });
        else this.log.info("block I/O limits apply to the disk under Docker's data", { device: found.device, dir, ...this.options.disk.io });
        return 'device' in found ? found.device : undefined;
      });
    return this.device;
  }


  /**
   * Starts the container, reads its limits back and refuses it (throws) if
   * Docker did not apply them. The caller removes it on failure.
   */
  async startAndVerify(id: string, record: AllocationRecord): Promise<void> {
    const { pidsLimit } = this.options;
    const cpuset = record.cpuset.join(',');
    try {
      const container = this.docker.getContainer(id);
      await container.start();
      const info = await container.inspect();
      const hc = info.HostConfig as Docker.HostConfig & { Init?: boolean; CpusetCpus?: string };
      const wrong: string[] = [];
      const expect = (what: string, actual: unknown, wanted: unknown) => {
        if (actual !== wanted) wrong.push(`${what} is ${JSON.stringify(actual)}, wanted ${JSON.stringify(wanted)}`);
      };
      expect('Memory', hc.Memory, record.memoryBytes);
      expect('MemorySwap', hc.MemorySwap, record.memoryBytes);
      expect('NanoCpus', hc.NanoCpus, record.cpuCount * 1e9);
      expect('CpusetCpus', hc.CpusetCpus, cpuset);
      expect('PidsLimit', hc.PidsLimit, pidsLimit);
      expect('ShmSize', hc.ShmSize, record.memoryBytes);
      expect('Privileged', hc.Privileged, false);
      expect('Init', hc.Init, true);
      expect('NetworkMode', hc.NetworkMode, record.network);
      if (!hc.SecurityOpt?.some((o: string) => o.startsWith('no-new-privileges'))) wrong.push('SecurityOpt lacks no-new-privileges');
      if (!hc.CapDrop?.includes('ALL')) wrong.push('CapDrop lacks ALL');
      if ((hc.Binds?.length ?? 0) > 0 || (info.Mounts?.length ?? 0) > 0) wrong.push('the container has mounts');
      if (!info.State.Running) wrong.push(`state is ${info.State.Status}, wanted running`);
      await this.checkDisk(hc, expect);
      if (wrong.length) {
        throw new Failure('internal', `Docker did not apply the requested limits to ${record.name}: ${wrong.join('; ')}`);
      }
    } catch (err) {
      throw dockerFailure(err, `start container ${record.name}`);
    }
  }

  /** The block I/O limits and the layer quota were applied; an unsupported weight is only warned about (once). */
  private async checkDisk(hc: Docker.HostConfig & { StorageOpt?: Record<string, string> }, expect: (what: string, actual: unknown, wanted: unknown) => void) {
    const { io, layerBytes } = this.options.disk;
    if (await this.ioDevice()) {
      expect('BlkioDeviceReadBps', hc.BlkioDeviceReadBps?.[0]?.Rate, io.readBps);
      expect('BlkioDeviceWriteBps', hc.BlkioDeviceWriteBps?.[0]?.Rate, io.writeBps);
    }
    if (this.storageQuota) expect('StorageOpt size', hc.StorageOpt?.size, String(layerBytes));
    if (io.weight > 0 && hc.BlkioWeight !== io.weight && !this.weightWarned) {
      this.weightWarned = true;
      this.log.warn('the engine discarded docker.io_weight (its kernel has no blkio weight: CFQ/BFQ on cgroup v1, io.weight on v2)', { asked: io.weight, applied: hc.BlkioWeight });
    }
  }

  /** Marks a container handed out: drops the pending suffix from its name. */
  async markReady(id: string, name: string): Promise<void> {
    try {
      await this.docker.getContainer(id).rename({ name });
    } catch (err) {
      throw dockerFailure(err, `rename container ${name}`);
    }
  }

  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (statusOf(err) === 304) return;
      throw dockerFailure(err, `start container ${id}`);
    }
  }

  /** Removes a container (killing it); a missing one is not an error. */
  async removeContainer(idOrName: string): Promise<void> {
    try {
      await this.docker.getContainer(idOrName).remove({ force: true, v: true });
    } catch (err) {
      const code = statusOf(err);
      if (code === 404) return;
      // 409: removal already in progress; wait for it to finish.
      if (code === 409) {
        for (let i = 0; i < 50; i++) {
          await new Promise((r) => setTimeout(r, 100));
          try {
            await this.docker.getContainer(idOrName).inspect();
          } catch (e) {
            if (statusOf(e) === 404) return;
          }
        }
      }
      throw dockerFailure(err, `remove container ${idOrName}`);
    }
  }

  /** Removes a network; a missing one is not an error. */
  async removeNetwork(name: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.docker.getNetwork(name).remove();
        return;
      } catch (err) {
        const code = statusOf(err);
        if (code === 404) return;
        // 403/409 "has active endpoints": a container still detaching.
        if ((code === 403 || code === 409 || code === 500) && attempt < 20) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        throw dockerFailure(err, `remove network ${name}`);
      }
    }
  }

  /** Every container this miner instance made (or claimed), ready or not. */
  async listContainers(): Promise<ManagedContainer[]> {
    const list = await this.listAllContainers();
    return list.filter((c) => madeBy(this.options.maker, c.labels, c.id, this.claimed));
  }

  /** Every network this miner instance made (or claimed). */
  async listNetworks(): Promise<ManagedNetwork[]> {
    const list = await this.listAllNetworks();
    return list.filter((n) => madeBy(this.options.maker, n.labels, n.id, this.claimed));
  }

  /**
   * Takes over what a miner older than instance ids left under this prefix
   * (no polarise.instance label): called once, at start, while this miner
   * holds the prefix lock, so no other live miner is creating them now.
   * Claims are by id and never extended later. Returns how many.
   */
  async claimUnlabelled(): Promise<{ containers: number; networks: number }> {
    const unlabelled = (labels: Record<string, string>) => labels[LABELS.instance] === undefined;
    const containers = (await this.listAllContainers()).filter((c) => unlabelled(c.labels));
    const networks = (await this.listAllNetworks()).filter((n) => unlabelled(n.labels));
    for (const x of [...containers, ...networks]) this.claimed.add(x.id);
    return { containers: containers.length, networks: networks.length };
  }

  /** Every container under this miner's prefix label, whoever made it. */
  private async listAllContainers(): Promise<ManagedContainer[]> {
    try {
      const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.miner}=${this.options.maker.prefix}`] } });
      return list.map((c) => {
        const dockerName = (c.Names[0] ?? '').replace(/^\//, '');
        return { id: c.Id, dockerName, pending: dockerName.endsWith(PENDING_SUFFIX), state: c.State, labels: c.Labels ?? {} };
      });
    } catch (err) {
      throw dockerFailure(err, 'list containers');
    }
  }

  private async listAllNetworks(): Promise<(ManagedNetwork & { labels: Record<string, string> })[]> {
    try {
      const list = await this.docker.listNetworks({ filters: { label: [`${LABELS.miner}=${this.options.maker.prefix}`] } });
      return list.map((n) => ({ id: n.Id, name: n.Name, labels: n.Labels ?? {} }));
    } catch (err) {
      throw dockerFailure(err, 'list networks');
    }
  }
}
