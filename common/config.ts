/**
 * Configuration: a YAML file (config/config.yaml) validated at start, with
 * environment overrides POLARISE_<SECTION>_<KEY>=value (for example
 * POLARISE_NETWORK_PORT=9443 or POLARISE_DOCKER_DEFAULT_MEMORY=2g).
 * An error names the key and what is wrong with it.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { parseMemory } from './units.js';
import { isFailure } from './errors.js';

const memory = z.string().superRefine((text, ctx) => {
  try {
    parseMemory(text, 'value');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: isFailure(err) ? err.message.replace(/^value: /, '') : String(err) });
  }
});

const portRange = z
  .string()
  .regex(/^\d+-\d+$/, 'must look like "2200-2299"')
  .transform((text) => {
    const [first, last] = text.split('-').map(Number) as [number, number];
    return { first, last };
  })
  .refine((r) => r.first >= 1024 && r.last <= 65535 && r.first <= r.last, 'must be a range within 1024-65535, low end first');

const network = z.strictObject({
  /** Address the gRPC server listens on. */
  host: z.string().min(1).default('0.0.0.0'),
  /** 0 picks a free port (it is logged). */
  port: z.number().int().min(0).max(65535).default(8443),
  /** Host name renters are told to reach SSH endpoints on. */
  advertise_host: z.string().min(1).default('127.0.0.1'),
});

const security = z.strictObject({
  ca_cert: z.string().min(1).default('certs/dev/ca.crt'),
  cert: z.string().min(1).default('certs/dev/miner.crt'),
  key: z.string().min(1).default('certs/dev/miner.key'),
  /** How often the three files are read again: replaced certificates apply without a restart. */
  reload_seconds: z.number().min(0.1).default(60),
});

const docker = z.strictObject({
  base_image: z.string().min(1).default('polarise/base:bookworm'),
  container_prefix: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,30}$/, 'must be letters, digits, "_", "." or "-" (at most 31)')
    .default('polarise-'),
  default_memory: memory.default('1g'),
  default_cpu_count: z.number().int().min(1).default(1),
  pids_limit: z.number().int().min(16).default(512),
  /** Memory and CPUs kept back for the host itself. */
  host_reserve_memory: memory.default('1g'),
  host_reserve_cpus: z.number().min(0).default(0),
  /** CPUs promised per host CPU; 1 means no overcommit. Memory is never overcommitted. */
  overcommit_ratio: z.number().min(1).max(16).default(1),
  /** Smallest memory an Allocate may ask for. */
  min_memory: memory.default('32m'),
  /** true: each allocation's own network has no route out (Docker "internal"); false: outbound NAT. */
  internal_network: z.boolean().default(true),
  /** GPUs this host may hand out through DeviceRequests (needs the NVIDIA container toolkit); 0 = none. */
  gpu_count: z.number().int().min(0).default(0),
});

const ssh = z
  .strictObject({
    port_range: portRange.default({ first: 2200, last: 2399 }),
    host_key: z.string().min(1).default('var/miner/ssh_host_ed25519_key'),
    /** Failed logins allowed per source address per window before it is refused. */
    max_auth_failures: z.number().int().min(1).default(10),
    auth_window_seconds: z.number().int().min(1).default(60),
    /** A connection not logged in within this time is closed (OpenSSH LoginGraceTime). */
    login_grace_seconds: z.number().min(1).max(600).default(20),
    /** Connections not logged in yet, across all SSH ports; more are closed at once (OpenSSH MaxStartups). */
    max_startups: z.number().int().min(1).max(10_000).default(30),
    /** The same per source address, IPv6 per /64 (OpenSSH PerSourceMaxStartups). */
    per_source_max_startups: z.number().int().min(1).max(10_000).default(10),
  })
  .refine((s) => s.per_source_max_startups <= s.max_startups, {
    path: ['per_source_max_startups'],
    message: 'must not be above ssh.max_startups',
  });

const leases = z.strictObject({
  default_seconds: z.number().int().min(1).default(3600),
  max_seconds: z.number().int().min(1).default(7 * 86400),
  reconcile_interval_seconds: z.number().min(0.1).default(5),
});

const challenge = z.strictObject({
  default_duration_seconds: z.number().positive().default(300),
  max_duration_seconds: z.number().positive().default(3600),
  grace_seconds: z.number().min(0).default(2),
  max_output_bytes: z.number().int().min(1024).default(64 * 1024 * 1024),
  /** Where samples come from: cgroup files when reachable, else Docker's stats API ("auto"), or one of them only. */
  sampler: z.enum(['auto', 'cgroup', 'docker_stats']).default('auto'),
  /** Live output (stream_output) that may wait for a slow client before the command's pipe is paused. */
  live_output_buffer_bytes: z.number().int().min(4096).default(1024 * 1024),
});

const metrics = z.strictObject({
  enabled: z.boolean().default(false),
  host: z.string().min(1).default('127.0.0.1'),
  /** The miner's endpoint; 0 picks a free port (it is logged). */
  port: z.number().int().min(0).max(65535).default(9464),
  /** The validator's endpoint (daemon mode). */
  validator_port: z.number().int().min(0).max(65535).default(9465),
});

const minerTarget = z.strictObject({
  /** How the miner is named in scores, logs and reports. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"'),
  /** host:port of the miner's gRPC server. */
  address: z.string().regex(/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/, 'must be host:port'),
  /** Name the miner's certificate is checked against, when not the host of address. */
  server_name: z.string().min(1).optional(),
});

const validator = z.strictObject({
  /** The validator's own client certificate (role validator) and the subnet CA. */
  ca_cert: z.string().min(1).default('certs/dev/ca.crt'),
  cert: z.string().min(1).default('certs/dev/validator-dev.crt'),
  key: z.string().min(1).default('certs/dev/validator-dev.key'),
  miners: z.array(minerTarget).default([{ name: 'local', address: 'localhost:8443' }]),
  /** Seconds between rounds in daemon mode. */
  interval_seconds: z.number().positive().default(300),
  /** Miners challenged at once. */
  concurrency: z.number().int().min(1).default(4),
  /** What the validator rents from each miner and then verifies. */
  cpu_count: z.number().int().min(1).default(1),
  memory: memory.default('512m'),
  /** Size of the memory challenge; must fit in `memory`. */
  challenge_memory: memory.default('256m'),
  database: z.string().min(1).default('var/validator.db'),
  report: z.string().min(1).default('var/report.html'),
  /** Score weights; normalised to sum to 1. */
  weights: z
    .strictObject({
      compute: z.number().min(0).default(0.4),
      memory: z.number().min(0).default(0.3),
      rental: z.number().min(0).default(0.15),
      metrics: z.number().min(0).default(0.15),
    })
    .default({ compute: 0.4, memory: 0.3, rental: 0.15, metrics: 0.15 })
    .refine((w) => w.compute + w.memory + w.rental + w.metrics > 0, 'at least one weight must be above zero'),
  /** Weight of the newest round in the moving average of scores. */
  ema_alpha: z.number().gt(0).max(1).default(0.3),
});

export const configSchema = z.strictObject({
  network: network.default(network.parse({})),
  security: security.default(security.parse({})),
  docker: docker.default(docker.parse({})),
  ssh: ssh.default(ssh.parse({})),
  leases: leases.default(leases.parse({})),
  challenge: challenge.default(challenge.parse({})),
  metrics: metrics.default(metrics.parse({})),
  validator: validator.default(validator.parse({})),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function scalar(text: string): unknown {
  try {
    return parseYaml(text);
  } catch {
    return text;
  }
}

/** Applies POLARISE_<SECTION>_<KEY> variables onto the parsed document. */
export function applyEnvOverrides(doc: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const sections = Object.keys(configSchema.shape);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('POLARISE_') || value === undefined) continue;
    const rest = name.slice('POLARISE_'.length).toLowerCase();
    const section = sections.find((s) => rest.startsWith(s + '_'));
    if (!section) continue;
    const key = rest.slice(section.length + 1);
    const current = doc[section];
    const target = current && typeof current === 'object' ? (current as Record<string, unknown>) : {};
    // Memory sizes and ranges stay strings; numbers and booleans become typed.
    const typed = scalar(value);
    target[key] = typeof typed === 'number' && /memory|range/.test(key) ? value : typed;
    doc[section] = target;
  }
  return doc;
}

function describe(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${path ? path + '.' : ''}${k}: unknown key`).join('; ');
  }
  return `${path || '(top level)'}: ${issue.message}`;
}

/** Validates a parsed document; `source` names it in errors. */
export function parseConfig(doc: unknown, source: string, env: NodeJS.ProcessEnv = {}): Config {
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${source}: the top level must be a mapping of sections`);
  const result = configSchema.safeParse(applyEnvOverrides(doc as Record<string, unknown>, env));
  if (!result.success) {
    throw new ConfigError(`${source}: ${result.error.issues.map(describe).join('; ')}`);
  }
  return result.data;
}

/** Reads, parses and validates a YAML config file, then environment overrides. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` line ${err.linePos[0].line}` : '';
    throw new ConfigError(`${path}${where}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return parseConfig(doc, path, env);
}
