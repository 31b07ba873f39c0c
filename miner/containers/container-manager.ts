/**
 * Hardened containers over dockerode. One container per allocation, on a
 * bridge network of its own, with limits read back from inspect before the
 * container is handed out. Only plain types cross this module's boundary.
 */
import { dockerFailure } from './docker-errors.js';
import type Docker from 'dockerode';
import { Failure } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { DeviceRequestSpec } from '../allocations/allocation-request.js';
import { containerLabels, LABELS, networkLabels, PENDING_SUFFIX, type AllocationRecord } from './container-labels.js';

/**
 * Capabilities kept after dropping ALL. Enough for root to administer its own
 * container (install packages, own files, switch users, signal its processes):
 *  - CHOWN, DAC_OVERRIDE, FOWNER, FSETID: dpkg/apt and everyday file handling
 *    as root (chown, write files root does not own, keep setgid bits);
 *  - SETUID, SETGID: su, apt's `_apt` sandbox user, daemons that drop root;
 *  - KILL: signal processes of other users inside the container;
 *  - NET_BIND_SERVICE: listen on ports below 1024 in its own network namespace.
 * Dropped from Docker's defaults: NET_RAW (raw sockets, spoofing), MKNOD
 * (device nodes), SETFCAP/SETPCAP (file capabilities), SYS_CHROOT, AUDIT_WRITE.
 */
export const CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'SETUID', 'SETGID', 'KILL', 'NET_BIND_SERVICE'];

export interface ContainerManagerOptions {
  image: string;
  /** container_prefix; also the value of the polarise.miner label. */
  instance: string;
  pidsLimit: number;
  /** Internal networks have no route out of the host (no NAT, no gateway). */
  internalNetwork: boolean;
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
  constructor(
    private readonly docker: Docker,
    private readonly options: ContainerManagerOptions,
    private readonly log: Logger,
  ) {}

  get instance(): string {
    return this.options.instance;
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
        Labels: networkLabels(this.options.instance, name),
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
    const { pidsLimit, image } = this.options;
    const cpuset = record.cpuset.join(',');
    try {
      const container = await this.docker.createContainer({
        name: record.name + PENDING_SUFFIX,
        Hostname: record.name.slice(0, 63).replace(/[^a-zA-Z0-9-]/g, '-').replace(/^-+|-+$/g, '') || 'polarise',
        Image: image,
        // The container's own command only keeps it alive; renters work
        // through SSH sessions (docker exec). Init reaps their orphans.
        Entrypoint: ['sleep'],
        Cmd: ['infinity'],
        WorkingDir: '/root',
        Labels: containerLabels(this.options.instance, record),
        HostConfig: {
          Memory: record.memoryBytes,
          MemorySwap: record.memoryBytes, // no swap
          NanoCpus: record.cpuCount * 1e9,
          CpusetCpus: cpuset,
          PidsLimit: pidsLimit,
          // /dev/shm is charged to the container's memory cgroup; let it
          // use up to the limit (the validator's memory challenge keeps its
          // data there).
          ShmSize: record.memoryBytes,
          SecurityOpt: ['no-new-privileges:true'],
          CapDrop: ['ALL'],
          CapAdd: CAPABILITIES,
          Privileged: false,
          Init: true,
          ReadonlyRootfs: false,
          IpcMode: 'private',
          NetworkMode: record.network,
          RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
          Binds: [],
          Mounts: [],
          DeviceRequests: plan.deviceRequests.length ? plan.deviceRequests : undefined,
        },
      });
      return container.id;
    } catch (err) {
      throw dockerFailure(err, `create container ${record.name}`);
    }
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
      if (wrong.length) {
        throw new Failure('internal', `Docker did not apply the requested limits to ${record.name}: ${wrong.join('; ')}`);
      }
    } catch (err) {
      throw dockerFailure(err, `start container ${record.name}`);
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

  /** Every container this miner instance manages, ready or not. */
  async listContainers(): Promise<ManagedContainer[]> {
    try {
      const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.miner}=${this.options.instance}`] } });
      return list.map((c) => {
        const dockerName = (c.Names[0] ?? '').replace(/^\//, '');
        return { id: c.Id, dockerName, pending: dockerName.endsWith(PENDING_SUFFIX), state: c.State, labels: c.Labels ?? {} };
      });
    } catch (err) {
      throw dockerFailure(err, 'list containers');
    }
  }

  /** Every network this miner instance made. */
  async listNetworks(): Promise<ManagedNetwork[]> {
    try {
      const list = await this.docker.listNetworks({ filters: { label: [`${LABELS.miner}=${this.options.instance}`] } });
      return list.map((n) => ({ id: n.Id, name: n.Name }));
    } catch (err) {
      throw dockerFailure(err, 'list networks');
    }
  }
}
