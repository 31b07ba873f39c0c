/**
 * Validates an Allocate request into a plain allocation spec. Every problem is
 * an invalid_argument Failure whose message starts with the field's name;
 * fields left unset take the miner's defaults. Capacity is checked elsewhere
 * (capacity.ts): this module only rejects what no miner state could satisfy.
 */
import ssh2 from 'ssh2';
import { invalidArgument } from '../../common/errors.js';
import { FIELD_LIMITS, capLength } from '../../common/field-limits.js';
import { formatBytes, parseMemory } from '../../common/units.js';

/** The request's fields (AllocateRequest is structurally one of these). */
export interface AllocationInput {
  memory: string;
  cpuCount: number;
  devices: string[];
  publicKeys: string[];
  leaseSeconds: number;
}

export interface AllocationDefaults {
  defaultMemory: string;
  minMemoryBytes: number;
  defaultCpuCount: number;
  defaultLeaseSeconds: number;
  maxLeaseSeconds: number;
  /** What the engine reports: the host's CPUs and memory. */
  hostCpus: number;
  hostMemoryBytes: number;
}

/** One device request, as Docker's DeviceRequests want it. */
export interface DeviceRequestSpec {
  Driver: string;
  Count?: number;
  DeviceIDs?: string[];
  Capabilities: string[][];
}

export interface AllocationSpec {
  memoryBytes: number;
  cpuCount: number;
  /** The devices as the request wrote them (normalised). */
  devices: string[];
  /** GPUs this allocation holds; -1 means "all of them". */
  gpuCount: number;
  deviceRequests: DeviceRequestSpec[];
  /** authorized_keys lines, each parsed and re-serialised as "type base64". */
  publicKeys: string[];
  leaseSeconds: number;
}

export const MAX_PUBLIC_KEYS = 16;
const MAX_DEVICES = 16;

function parseDevice(text: string, field: string): { spec: DeviceRequestSpec; gpus: number } {
  const gpu = { Driver: 'nvidia', Capabilities: [['gpu']] };
  capLength(field, text, FIELD_LIMITS.device);
  const match = /^gpu:(all|count=(\d{1,3})|id=([A-Za-z0-9-]{1,64}))$/.exec(text.trim());
  if (!match) {
    throw invalidArgument(field, `"${text}" is not a supported device; use "gpu:all", "gpu:count=N" or "gpu:id=<index or UUID>"`);
  }
  if (match[1] === 'all') return { spec: { ...gpu, Count: -1 }, gpus: -1 };
  if (match[2] !== undefined) {
    const count = Number(match[2]);
    if (count < 1) throw invalidArgument(field, `"${text}": the GPU count must be at least 1`);
    return { spec: { ...gpu, Count: count }, gpus: count };
  }
  return { spec: { ...gpu, DeviceIDs: [match[3]!] }, gpus: 1 };
}

/** Parses one authorized_keys line (no options) and returns "type base64". */
export function parsePublicKey(line: string, field: string): string {
  const text = capLength(field, line, FIELD_LIMITS.public_key).trim();
  if (!text) throw invalidArgument(field, 'is empty');
  if (/[\r\n]/.test(text)) throw invalidArgument(field, 'must be a single authorized_keys line');
  const parts = text.split(/\s+/);
  const parsed = ssh2.utils.parseKey(parts.slice(0, 2).join(' '));
  if (parsed instanceof Error || Array.isArray(parsed)) {
    throw invalidArgument(field, `not an OpenSSH public key (${parsed instanceof Error ? parsed.message : 'several keys'}); expected a line like "ssh-ed25519 AAAA... comment"`);
  }
  if (parsed.isPrivateKey()) throw invalidArgument(field, 'is a private key; send the public key (.pub) only');
  return `${parsed.type} ${parsed.getPublicSSH().toString('base64')}`;
}

/** Every string of the request capped (and the lists' lengths) before any of them is parsed. */
function capFields(input: AllocationInput): void {
  capLength('memory', input.memory, FIELD_LIMITS.memory);
  if (input.devices.length > MAX_DEVICES) throw invalidArgument('devices', `at most ${MAX_DEVICES} entries`);
  input.devices.forEach((text, i) => capLength(`devices[${i}]`, text, FIELD_LIMITS.device));
  if (input.publicKeys.length > MAX_PUBLIC_KEYS) throw invalidArgument('public_keys', `at most ${MAX_PUBLIC_KEYS} keys`);
  input.publicKeys.forEach((line, i) => capLength(`public_keys[${i}]`, line, FIELD_LIMITS.public_key));
}

export function parseAllocationRequest(input: AllocationInput, d: AllocationDefaults): AllocationSpec {
  capFields(input);
  // memory
  const memoryText = input.memory.trim() === '' ? d.defaultMemory : input.memory;
  const memoryBytes = parseMemory(memoryText, 'memory');
  if (memoryBytes < d.minMemoryBytes) {
    throw invalidArgument('memory', `"${memoryText}" is less than the minimum of ${formatBytes(d.minMemoryBytes)}`);
  }
  if (memoryBytes > d.hostMemoryBytes) {
    throw invalidArgument('memory', `"${memoryText}" is more than this host has in all (${formatBytes(d.hostMemoryBytes)})`);
  }

  // cpu_count (uint32 on the wire; guard anyway for callers outside gRPC)
  const cpuCount = input.cpuCount === 0 ? d.defaultCpuCount : input.cpuCount;
  if (!Number.isInteger(cpuCount) || cpuCount < 1) throw invalidArgument('cpu_count', `must be a whole number of at least 1, not ${input.cpuCount}`);
  if (cpuCount > d.hostCpus) {
    throw invalidArgument('cpu_count', `${cpuCount} is more than the ${d.hostCpus} CPUs this host has`);
  }

  // devices
  if (input.devices.length > MAX_DEVICES) throw invalidArgument('devices', `at most ${MAX_DEVICES} entries`);
  const deviceRequests: DeviceRequestSpec[] = [];
  const devices: string[] = [];
  let gpuCount = 0;
  input.devices.forEach((text, i) => {
    const { spec, gpus } = parseDevice(text, `devices[${i}]`);
    if ((gpus === -1 && input.devices.length > 1) || (gpuCount === -1 && gpus !== -1)) {
      throw invalidArgument(`devices[${i}]`, '"gpu:all" cannot be combined with other GPU requests');
    }
    gpuCount = gpus === -1 ? -1 : gpuCount + gpus;
    devices.push(text.trim());
    deviceRequests.push(spec);
  });

  // public_keys
  if (input.publicKeys.length > MAX_PUBLIC_KEYS) throw invalidArgument('public_keys', `at most ${MAX_PUBLIC_KEYS} keys`);
  const publicKeys = input.publicKeys.map((line, i) => parsePublicKey(line, `public_keys[${i}]`));

  // lease_seconds
  const leaseSeconds = input.leaseSeconds === 0 ? d.defaultLeaseSeconds : input.leaseSeconds;
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 1) throw invalidArgument('lease_seconds', `must be a whole number of seconds, not ${input.leaseSeconds}`);
  if (leaseSeconds > d.maxLeaseSeconds) {
    throw invalidArgument('lease_seconds', `${leaseSeconds} is more than this miner's maximum of ${d.maxLeaseSeconds}`);
  }

  return { memoryBytes, cpuCount, devices, gpuCount, deviceRequests, publicKeys, leaseSeconds };
}
