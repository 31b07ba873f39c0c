/**
 * The labels that carry an allocation's whole state on its container (and
 * mark its network), so that a restarted miner rebuilds everything from
 * Docker. The password is never among them: only its scrypt hash.
 */
export const LABELS = {
  /** The container prefix of the miner that made it. */
  miner: 'polarise.miner',
  /** The id of the miner instance that made it (instance-id.ts); a miner touches nothing without its own. */
  instance: 'polarise.instance',
  /** "container" or "network". */
  kind: 'polarise.kind',
  version: 'polarise.version',
  owner: 'polarise.owner',
  memoryBytes: 'polarise.memory_bytes',
  cpuCount: 'polarise.cpu_count',
  cpuset: 'polarise.cpuset',
  devices: 'polarise.devices',
  gpuCount: 'polarise.gpu_count',
  /** The GPUs (device indices) the allocation holds, so no other allocation is given them. */
  gpuIds: 'polarise.gpu_ids',
  sshPort: 'polarise.ssh_port',
  passwordHash: 'polarise.password_hash',
  publicKeys: 'polarise.public_keys',
  network: 'polarise.network',
  createdAt: 'polarise.created_at',
  expiresAt: 'polarise.expires_at',
} as const;

export const LABEL_VERSION = '1';

/** The suffix of a container that was created but not yet handed out. */
export const PENDING_SUFFIX = '.pending';

/** One allocation, as its labels record it. */
export interface AllocationRecord {
  /** Final container name (without the pending suffix). */
  name: string;
  owner: string;
  memoryBytes: number;
  cpuCount: number;
  /** Host CPUs the container is pinned to. */
  cpuset: number[];
  devices: string[];
  gpuCount: number;
  /** The GPUs it holds, by device index: explicit, so two allocations never share one. */
  gpuIds: string[];
  sshPort: number;
  passwordHash: string;
  /** "type base64" public keys. */
  publicKeys: string[];
  network: string;
  createdAt: Date;
  expiresAt: Date;
}

/** Who made a container or network: the miner's container prefix and instance id. */
export interface Maker {
  prefix: string;
  instanceId: string;
}

export function containerLabels(maker: Maker, r: AllocationRecord): Record<string, string> {
  return {
    [LABELS.miner]: maker.prefix,
    [LABELS.instance]: maker.instanceId,
    [LABELS.kind]: 'container',
    [LABELS.version]: LABEL_VERSION,
    [LABELS.owner]: r.owner,
    [LABELS.memoryBytes]: String(r.memoryBytes),
    [LABELS.cpuCount]: String(r.cpuCount),
    [LABELS.cpuset]: r.cpuset.join(','),
    [LABELS.devices]: JSON.stringify(r.devices),
    [LABELS.gpuCount]: String(r.gpuCount),
    [LABELS.gpuIds]: JSON.stringify(r.gpuIds),
    [LABELS.sshPort]: String(r.sshPort),
    [LABELS.passwordHash]: r.passwordHash,
    [LABELS.publicKeys]: JSON.stringify(r.publicKeys),
    [LABELS.network]: r.network,
    [LABELS.createdAt]: r.createdAt.toISOString(),
    [LABELS.expiresAt]: r.expiresAt.toISOString(),
  };
}

export function networkLabels(maker: Maker, containerName: string): Record<string, string> {
  return {
    [LABELS.miner]: maker.prefix,
    [LABELS.instance]: maker.instanceId,
    [LABELS.kind]: 'network',
    [LABELS.version]: LABEL_VERSION,
    [LABELS.network]: containerName,
  };
}

/**
 * Whether a miner may touch what carries `labels`: its own instance id, or
 * no instance id at all (made by a miner older than instance ids) and
 * claimed by this miner at start (ContainerManager.claimUnlabelled).
 */
export function madeBy(maker: Maker, labels: Record<string, string> | undefined, id: string, claimed: ReadonlySet<string>): boolean {
  if (labels?.[LABELS.miner] !== maker.prefix) return false;
  const instance = labels[LABELS.instance];
  return instance === undefined ? claimed.has(id) : instance === maker.instanceId;
}

function stringArray(text: string | undefined): string[] | null {
  try {
    const value: unknown = JSON.parse(text ?? '');
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : null;
  } catch {
    return null;
  }
}

/** Reads a record back; a string says which label is missing or broken. */
export function recordFromLabels(name: string, labels: Record<string, string>): AllocationRecord | string {
  const num = (key: string) => {
    const n = Number(labels[key]);
    return labels[key] !== undefined && labels[key] !== '' && Number.isFinite(n) ? n : null;
  };
  const date = (key: string) => {
    const d = new Date(labels[key] ?? '');
    return Number.isNaN(d.getTime()) ? null : d;
  };
  const memoryBytes = num(LABELS.memoryBytes);
  const cpuCount = num(LABELS.cpuCount);
  const gpuCount = num(LABELS.gpuCount);
  const sshPort = num(LABELS.sshPort);
  const createdAt = date(LABELS.createdAt);
  const expiresAt = date(LABELS.expiresAt);
  const devices = stringArray(labels[LABELS.devices]);
  // Absent on containers of miners older than the GPU pool: they hold none by id.
  const gpuIds = stringArray(labels[LABELS.gpuIds] ?? '[]');
  const publicKeys = stringArray(labels[LABELS.publicKeys]);
  const cpuset = (labels[LABELS.cpuset] ?? '').split(',').filter(Boolean).map(Number);
  const checks: [string, unknown][] = [
    [LABELS.owner, labels[LABELS.owner]],
    [LABELS.memoryBytes, memoryBytes],
    [LABELS.cpuCount, cpuCount],
    [LABELS.gpuCount, gpuCount],
    [LABELS.sshPort, sshPort],
    [LABELS.passwordHash, labels[LABELS.passwordHash]],
    [LABELS.network, labels[LABELS.network]],
    [LABELS.createdAt, createdAt],
    [LABELS.expiresAt, expiresAt],
    [LABELS.devices, devices],
    [LABELS.gpuIds, gpuIds],
    [LABELS.publicKeys, publicKeys],
    [LABELS.cpuset, cpuset.every(Number.isInteger) ? cpuset : null],
  ];
  for (const [key, value] of checks) if (value === null || value === undefined || value === '') return `label ${key} is missing or malformed`;
  return {
    name,
    owner: labels[LABELS.owner]!,
    memoryBytes: memoryBytes!,
    cpuCount: cpuCount!,
    cpuset,
    devices: devices!,
    gpuCount: gpuCount!,
    gpuIds: gpuIds!,
    sshPort: sshPort!,
    passwordHash: labels[LABELS.passwordHash]!,
    publicKeys: publicKeys!,
    network: labels[LABELS.network]!,
    createdAt: createdAt!,
    expiresAt: expiresAt!,
  };
}
