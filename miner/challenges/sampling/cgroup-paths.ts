/**
 * Where a container's cgroup files are: the host's cgroup mounts (from
 * /proc/self/mountinfo) and a process's cgroup directories under them (from
 * /proc/<pid>/cgroup), v1 or v2.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** Parses /proc/self/mountinfo for cgroup and cgroup2 mounts. */
export function cgroupMounts(mountinfo = '/proc/self/mountinfo'): Mount[] {
  const mounts: Mount[] = [];
  for (const line of readFileSync(mountinfo, 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0] ?? '';
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    mounts.push({ root: unescape(left[3] ?? '/'), mountPoint: unescape(left[4] ?? ''), fsType, superOptions: (right[2] ?? '').split(',') });
  }
  return mounts;
}

/** The whole host's cgroup mode: 2 when /sys/fs/cgroup itself is cgroup2, 1 when v1 hierarchies exist, else null. */
export function hostCgroupVersion(mounts = cgroupMounts()): 1 | 2 | null {
  if (mounts.some((m) => m.fsType === 'cgroup2' && m.mountPoint === '/sys/fs/cgroup')) return 2;
  if (mounts.some((m) => m.fsType === 'cgroup')) return 1;
  if (mounts.some((m) => m.fsType === 'cgroup2')) return 2;
  return null;
}

function under(mount: Mount, path: string): string {
  // When the miner itself sits in a cgroup namespace the mount's root is a
  // prefix of the paths /proc/<pid>/cgroup shows.
  let rel = path;
  if (mount.root !== '/' && (rel === mount.root || rel.startsWith(mount.root + '/'))) rel = rel.slice(mount.root.length);
  return join(mount.mountPoint, rel);
}

export interface CgroupPaths {
  version: 1 | 2;
  /** v1: per controller directory; v2: the one directory under every key. */
  cpu: string;
  memory: string;
  pids?: string;
}

/**
 * Where a process's cgroup files are, from /proc/<pid>/cgroup.
 * Prefers v1 controllers when the process has them (hybrid hosts mount an
 * empty cgroup2 tree beside the v1 hierarchies).
 */
export function cgroupPathsOf(pid: number, procRoot = '/proc', mounts = cgroupMounts()): CgroupPaths | null {
  let text: string;
  try {
    text = readFileSync(join(procRoot, String(pid), 'cgroup'), 'utf8');
  } catch {
    return null;
  }
  const v1 = new Map<string, string>();
  let v2Path: string | undefined;
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.slice(0, first) === '0' && controllers === '') v2Path = path;
    else for (const c of controllers.split(',')) v1.set(c, path);
  }
  const v1Dir = (controller: string): string | undefined => {
    const path = v1.get(controller);
    if (path === undefined) return undefined;
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
    return mount ? under(mount, path) : undefined;
  };
  const cpu = v1Dir('cpuacct');
  const memory = v1Dir('memory');
  if (cpu && memory && existsSync(join(cpu, 'cpuacct.usage')) && existsSync(join(memory, 'memory.usage_in_bytes'))) {
    const pids = v1Dir('pids');
    return { version: 1, cpu, memory, pids: pids && existsSync(join(pids, 'pids.current')) ? pids : undefined };
  }
  if (v2Path !== undefined) {
    for (const mount of mounts.filter((m) => m.fsType === 'cgroup2')) {
      const dir = under(mount, v2Path);
      if (existsSync(join(dir, 'cpu.stat')) && existsSync(join(dir, 'memory.current'))) {
        return { version: 2, cpu: dir, memory: dir, pids: existsSync(join(dir, 'pids.current')) ? dir : undefined };
      }
    }
  }
  return null;
}
