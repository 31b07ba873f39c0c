/**
 * The HostConfig every allocation's container gets: limits, no privileges,
 * a minimal capability set, its own network, init, no mounts.
 */
import type Docker from 'dockerode';
import type { ContainerPlan } from './container-manager.js';

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

export function hardenedHostConfig({ record, deviceRequests }: ContainerPlan, pidsLimit: number): Docker.HostConfig {
  return {
    Memory: record.memoryBytes,
    MemorySwap: record.memoryBytes, // no swap
    NanoCpus: record.cpuCount * 1e9,
    CpusetCpus: record.cpuset.join(','),
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
    DeviceRequests: deviceRequests.length ? deviceRequests : undefined,
  };
}
