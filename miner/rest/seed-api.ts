/**
 * The seed's JSON shapes (../shared/SEED.md, "API Reference") mapped onto the
 * generated request types and back. Only translation lives here: every call
 * goes to the same MinerHandlers as gRPC, which validate and do the work.
 */
import {
  ChallengeStatus,
  ChallengeType,
  type AllocateRequest,
  type AllocateResponse,
  type ChallengeResult,
  type Container,
  type RunChallengeRequest,
} from '../../common/gen/polarise/v1/miner.js';
import { invalidArgument } from '../../common/errors.js';

type Json = Record<string, unknown>;

const UINT32_MAX = 0xffff_ffff;
/** Strings in a body are short: commands, sizes, keys. The body cap bounds them too. */
const MAX_STRING = 16 * 1024;
const MAX_LIST = 64;

function onlyKeys(body: Json, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw invalidArgument(`${where}${key}`, `unknown field (expected one of ${allowed.join(', ')})`);
  }
}

function optionalString(body: Json, key: string, where = ''): string {
  const value = body[key];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalidArgument(`${where}${key}`, 'must be a string');
  if (value.length > MAX_STRING) throw invalidArgument(`${where}${key}`, `must be at most ${MAX_STRING} characters`);
  return value;
}

function optionalUint(body: Json, key: string, where = ''): number {
  const value = body[key];
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw invalidArgument(`${where}${key}`, 'must be a whole number from 0 to 4294967295');
  }
  return value;
}

function optionalNumber(body: Json, key: string, where = ''): number {
  const value = body[key];
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalidArgument(`${where}${key}`, 'must be a number, 0 or more');
  return value;
}

function stringList(body: Json, key: string): string[] {
  const value = body[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_LIST) throw invalidArgument(key, `must be a list of at most ${MAX_LIST} strings`);
  return value.map((item, i) => {
    if (typeof item !== 'string' || item.length > MAX_STRING) throw invalidArgument(`${key}[${i}]`, 'must be a string');
    return item;
  });
}

/** POST /allocate {"memory": "2g", "cpu_count": 2, "devices": []}; public_keys and lease_seconds as in the proto. */
export function allocateRequest(body: Json): AllocateRequest {
  onlyKeys(body, ['memory', 'cpu_count', 'devices', 'public_keys', 'lease_seconds'], '');
  // The seed's sizes are strings ("2g"); a plain number of bytes is accepted too.
  const memory = typeof body.memory === 'number' && Number.isSafeInteger(body.memory) && body.memory > 0 ? String(body.memory) : optionalString(body, 'memory');
  return {
    memory,
    cpuCount: optionalUint(body, 'cpu_count'),
    devices: stringList(body, 'devices'),
    publicKeys: stringList(body, 'public_keys'),
    leaseSeconds: optionalUint(body, 'lease_seconds'),
  };
}

/** The seed's answer, plus what the gRPC answer adds (lease end, host key fingerprint). */
export function allocateAnswer(response: AllocateResponse): Json {
  return {
    status: 'success',
    container_id: response.containerId,
    container_name: response.containerName,
    password: response.password,
    // The seed shows the port as a string.
    ssh_port: String(response.sshPort),
    host: response.host,
    username: response.username,
    expires_at: response.expiresAt?.toISOString() ?? null,
    ssh_host_key_fingerprint: response.sshHostKeyFingerprint,
  };
}

const TYPES: Record<string, ChallengeType> = { compute: ChallengeType.CHALLENGE_TYPE_COMPUTE, memory: ChallengeType.CHALLENGE_TYPE_MEMORY };

/**
 * PUT /challenge/{container_id} {"type": "compute", "data": {"command": "...",
 * "duration": 10, "expected_cpu": 2}}. The seed's command is a shell string:
 * it runs as `/bin/sh -c <command>` in the container (the container's own
 * shell). A list of strings is taken as the argument vector itself.
 */
export function challengeRequest(containerId: string, body: Json): RunChallengeRequest {
  onlyKeys(body, ['type', 'data'], '');
  const type = typeof body.type === 'string' ? TYPES[body.type] : undefined;
  if (type === undefined) throw invalidArgument('type', 'must be "compute" or "memory"');
  const data = body.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw invalidArgument('data', 'must be an object with "command"');
  const fields = data as Json;
  onlyKeys(fields, ['command', 'duration', 'expected_cpu'], 'data.');
  return {
    containerId,
    type,
    command: command(fields.command),
    duration: optionalNumber(fields, 'duration', 'data.'),
    expectedCpu: optionalNumber(fields, 'expected_cpu', 'data.'),
    sampleIntervalMs: 0,
    stdin: Buffer.alloc(0),
    // One JSON answer at the end: the result's tails, no OutputChunk events.
    streamOutput: false,
  };
}

function command(value: unknown): string[] {
  if (typeof value === 'string') {
    if (!value.trim()) throw invalidArgument('data.command', 'is required');
    if (value.length > MAX_STRING) throw invalidArgument('data.command', `must be at most ${MAX_STRING} characters`);
    return ['/bin/sh', '-c', value];
  }
  if (Array.isArray(value) && value.length > 0) return stringList({ 'data.command': value }, 'data.command');
  throw invalidArgument('data.command', 'must be a shell command string (or a list of arguments)');
}

const STATUS_TEXT: Record<ChallengeStatus, string> = {
  [ChallengeStatus.CHALLENGE_STATUS_UNSPECIFIED]: 'unknown',
  [ChallengeStatus.CHALLENGE_STATUS_COMPLETED]: 'completed',
  [ChallengeStatus.CHALLENGE_STATUS_FAILED]: 'failed',
  [ChallengeStatus.CHALLENGE_STATUS_TIMEOUT]: 'timeout',
  [ChallengeStatus.CHALLENGE_STATUS_CANCELLED]: 'cancelled',
  [ChallengeStatus.UNRECOGNIZED]: 'unknown',
};

/**
 * The seed's answer: command_result {status, exit_code, output} and metrics
 * {cpu_usage, memory_usage, memory_limit, memory_percent} exactly; what the
 * seed does not show under `details`. `output` is the last 256 KiB of
 * standard output (RESULT_TAIL_BYTES) and `details.stderr` the last 64 KiB
 * of standard error; `details.stdout_bytes` / `stdout_sha256` state the whole
 * stream, and `output_truncated` is true when a tail is not all of it.
 */
export function challengeAnswer(type: ChallengeType, result: ChallengeResult, samples: number): Json {
  const command = result.commandResult;
  const metrics = result.metrics;
  return {
    status: 'success',
    type: type === ChallengeType.CHALLENGE_TYPE_MEMORY ? 'memory' : 'compute',
    command_result: {
      status: STATUS_TEXT[command?.status ?? ChallengeStatus.CHALLENGE_STATUS_UNSPECIFIED] ?? 'unknown',
      exit_code: command?.exitCode ?? -1,
      output: command?.output ?? '',
    },
    metrics: {
      cpu_usage: metrics?.cpuUsage ?? 0,
      memory_usage: metrics?.memoryUsage ?? 0,
      memory_limit: metrics?.memoryLimit ?? 0,
      memory_percent: metrics?.memoryPercent ?? 0,
    },
    details: {
      stderr: command?.stderr ?? '',
      output_truncated: command?.outputTruncated ?? false,
      stdout_bytes: command?.stdoutBytes ?? 0,
      stderr_bytes: command?.stderrBytes ?? 0,
      stdout_sha256: Buffer.from(command?.stdoutSha256 ?? []).toString('hex'),
      stderr_sha256: Buffer.from(command?.stderrSha256 ?? []).toString('hex'),
      oom_killed: command?.oomKilled ?? false,
      samples,
    },
  };
}

/** One entry of GET /containers: the container and its state. */
export function containerAnswer(c: Container): Json {
  return {
    container_id: c.containerId,
    container_name: c.containerName,
    state: c.state,
    memory_bytes: c.memoryBytes,
    cpu_count: c.cpuCount,
    devices: c.devices,
    ssh_port: String(c.sshPort),
    host: c.host,
    username: c.username,
    owner: c.owner,
    created_at: c.createdAt?.toISOString() ?? null,
    expires_at: c.expiresAt?.toISOString() ?? null,
  };
}
