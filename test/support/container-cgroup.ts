/**
 * A container's cgroup files, found the way the miner finds them
 * (miner/challenges/sampling/cgroup-paths.ts), so tests hold on cgroup v1 and
 * v2 hosts alike. Each reader names the v1 and v2 file it reads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupMounts, cgroupPathsOf, type CgroupPaths } from '../../miner/challenges/sampling/cgroup-paths.js';
import { docker } from './docker.js';

export interface ContainerCgroup {
  paths: CgroupPaths;
  pidsCurrent(): number;
  pidsMax(): string;
  /** Bytes, or "max". */
  memoryLimit(): string;
  /** Swap the container may use beside its memory, in bytes: null when this host does not account swap. */
  swapLimit(): number | null;
  /** CPUs the quota allows (quota / period), or Infinity without a quota. */
  cpuQuota(): number;
  /** How many processes the kernel's OOM killer ended in this cgroup. */
  oomKills(): number;
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim();

function tryRead(dir: string, file: string): string | null {
  try {
    return read(dir, file);
  } catch {
    return null;
  }
}

/** v1 only: the `cpu` controller's directory (CFS quota), beside the `cpuacct` one the miner reads. */
function v1CpuDir(cpuacctDir: string): string {
  const mounts = cgroupMounts().filter((m) => m.fsType === 'cgroup');
  const acct = mounts.find((m) => m.superOptions.includes('cpuacct') && cpuacctDir.startsWith(m.mountPoint + '/'));
  const cpu = mounts.find((m) => m.superOptions.includes('cpu'));
  if (!acct || !cpu) throw new Error('no v1 cpu controller mounted');
  return join(cpu.mountPoint, cpuacctDir.slice(acct.mountPoint.length));
}

export async function containerCgroup(containerId: string): Promise<ContainerCgroup> {
  const pid = (await docker.getContainer(containerId).inspect()).State.Pid;
  const paths = cgroupPathsOf(pid);
  if (!paths) throw new Error(`no cgroup files found for container ${containerId} (pid ${pid}) through /proc/${pid}/cgroup`);
  const v1 = paths.version === 1;
  const pidsDir = () => paths.pids ?? (() => { throw new Error('the pids controller is not mounted for this container'); })();
  return {
    paths,
    pidsCurrent: () => Number(read(pidsDir(), 'pids.current')),
    pidsMax: () => read(pidsDir(), 'pids.max'),
    memoryLimit: () => read(paths.memory, v1 ? 'memory.limit_in_bytes' : 'memory.max'),
    swapLimit: () => {
      if (v1) {
        const memsw = tryRead(paths.memory, 'memory.memsw.limit_in_bytes');
        return memsw === null ? null : Number(memsw) - Number(read(paths.memory, 'memory.limit_in_bytes'));
      }
      const swap = tryRead(paths.memory, 'memory.swap.max');
      return swap === null ? null : swap === 'max' ? Infinity : Number(swap);
    },
    cpuQuota: () => {
      const [quota, period] = v1 ? [read(v1CpuDir(paths.cpu), 'cpu.cfs_quota_us'), read(v1CpuDir(paths.cpu), 'cpu.cfs_period_us')] : read(paths.cpu, 'cpu.max').split(' ');
      return quota === 'max' || Number(quota) < 0 ? Infinity : Number(quota) / Number(period);
    },
    oomKills: () => {
      const text = read(paths.memory, v1 ? 'memory.oom_control' : 'memory.events');
      const match = /^oom_kill (\d+)$/m.exec(text);
      if (!match) throw new Error(`no oom_kill count in ${join(paths.memory, v1 ? 'memory.oom_control' : 'memory.events')} (kernel older than 4.13?)`);
      return Number(match[1]);
    },
  };
}
