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
import { rest } from './config-rest.js';
import { dockerHostKeys } from './config-docker-host.js';
import { validatorSection } from './config-validator.js';

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

/** "10.0.0.2", "10.0.0.0/24" or "10.0.0.2:53"; at most 24 characters, matched without backtracking. */
const egressDestination = z
  .string()
  .max(24)
  .regex(/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(\/\d{1,2})?(:\d{1,5})?$/, 'must look like "10.0.0.2", "10.0.0.0/24" or "10.0.0.2:53"')
  .refine((text) => {
    const [address, port] = text.split(':') as [string, string | undefined];
    const [ip, prefix] = address.split('/') as [string, string | undefined];
    const octetsOk = ip.split('.').every((o) => Number(o) <= 255);
    return octetsOk && (prefix === undefined || Number(prefix) <= 32) && (port === undefined || (Number(port) >= 1 && Number(port) <= 65535));
  }, 'has an octet above 255, a prefix above 32 or a port outside 1-65535');

const network = z.strictObject({
  /** Address the gRPC server listens on. */
  host: z.string().min(1).default('0.0.0.0'),
  /** 0 picks a free port (it is logged). */
  port: z.number().int().min(0).max(65535).default(8443),
  /** Host name renters are told to reach SSH endpoints on. */
  advertise_host: z.string().min(1).default('127.0.0.1'),
  /**
   * Private or link-local IPv4 destinations allocations may still reach when
   * docker.internal_network is false: "ADDR[/PREFIX][:PORT]" (a port allows
   * only that port, UDP and TCP), e.g. the host's DNS resolver "10.0.0.2:53".
   */
  egress_allow: z.array(egressDestination).max(64).default([]),
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
  ...dockerHostKeys(memory),
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
  /** Bytes of each stream sent as OutputChunk events (stream_output); past it output is still counted and hashed, not sent. */
  max_output_bytes: z.number().int().min(1024).default(64 * 1024 * 1024),
  /** Where samples come from: cgroup files when reachable, else Docker's stats API ("auto"), or one of them only. */
  sampler: z.enum(['auto', 'cgroup', 'docker_stats']).default('auto'),
  /** Live output (stream_output) that may wait for a slow client before the command's pipe is paused. */
  live_output_buffer_bytes: z.number().int().min(4096).default(1024 * 1024),
  /**
   * Challenges running at once: on the whole miner, per client identity, per
   * container (the smallest that applies wins); one more fails with
   * RESOURCE_EXHAUSTED naming the key. Each holds its output tails
   * (320 KiB) + live_output_buffer_bytes of the miner's memory.
   */
  max_concurrent_total: z.number().int().min(1).max(10_000).default(64),
  max_concurrent_per_owner: z.number().int().min(1).max(10_000).default(16),
  max_concurrent_per_container: z.number().int().min(1).max(10_000).default(8),
  /** HTTP/2 streams one client connection may have open at once (grpc-js grpc.max_concurrent_streams). */
  max_streams_per_connection: z.number().int().min(1).max(100_000).default(128),
  /** Memory one client connection may use for buffered frames before new streams are refused (grpc-node.max_session_memory), in MiB. */
  session_memory_mb: z.number().int().min(16).max(1_048_576).default(256),
});

/** A token bucket: `burst` calls at once, refilled at `per_second`. */
const rate = (perSecond: number, burst: number) =>
  z
    .strictObject({
      per_second: z.number().positive().max(1_000_000),
      burst: z.number().int().min(1).max(1_000_000),
    })
    .default({ per_second: perSecond, burst });

/** Per identity and RPC (limits.rate). */
const rates = z.strictObject({
  allocate: rate(5, 20),
  release: rate(5, 20),
  list_containers: rate(100, 500),
  run_challenge: rate(10, 60),
});

/** A client certificate's identity, as the owner label holds it (common/identity.ts). */
const IDENTITY_URI = /^spiffe:\/\/polarise\/(validator|renter|operator)\/[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** What one identity may hold at once; every key optional in an override. */
const ownerCaps = {
  max_allocations: z.number().int().min(1).max(100_000),
  max_cpus: z.number().positive().max(100_000),
  max_memory: memory,
  max_lease_seconds: z.number().int().min(1),
};

/**
 * Per identity (the client certificate's SAN URI): what it may hold and how
 * often it may call each RPC. `identities` raises or lowers the caps of named
 * identities, e.g. a trusted validator.
 */
const limits = z.strictObject({
  max_allocations: ownerCaps.max_allocations.default(16),
  max_cpus: ownerCaps.max_cpus.default(16),
  max_memory: ownerCaps.max_memory.default('64g'),
  max_lease_seconds: ownerCaps.max_lease_seconds.default(86_400),
  identities: z
    .record(
      z.string(),
      z.strictObject({
        max_allocations: ownerCaps.max_allocations.optional(),
        max_cpus: ownerCaps.max_cpus.optional(),
        max_memory: ownerCaps.max_memory.optional(),
        max_lease_seconds: ownerCaps.max_lease_seconds.optional(),
      }),
    )
    .superRefine((r, ctx) => {
      const keys = Object.keys(r);
      if (keys.length > 1000) ctx.addIssue({ code: 'custom', message: 'at most 1000 identities' });
      for (const key of keys.slice(0, 1000)) {
        if (!IDENTITY_URI.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'must be an identity URI spiffe://polarise/<validator|renter|operator>/<name>' });
      }
    })
    .default({}),
  rate: rates.default(rates.parse({})),
  /** Identities whose rate buckets are kept; idle (full) buckets are dropped first, then the least recently used. */
  rate_max_identities: z.number().int().min(1).max(1_000_000).default(10_000),
});

const metrics = z.strictObject({
  enabled: z.boolean().default(false),
  host: z.string().min(1).default('127.0.0.1'),
  /** The miner's endpoint; 0 picks a free port (it is logged). */
  port: z.number().int().min(0).max(65535).default(9464),
  /** The validator's endpoint (daemon mode). */
  validator_port: z.number().int().min(0).max(65535).default(9465),
});

const validator = validatorSection(memory);

export const configSchema = z
  .strictObject({
    network: network.default(network.parse({})),
    security: security.default(security.parse({})),
    docker: docker.default(docker.parse({})),
    ssh: ssh.default(ssh.parse({})),
    leases: leases.default(leases.parse({})),
    challenge: challenge.default(challenge.parse({})),
    limits: limits.default(limits.parse({})),
    metrics: metrics.default(metrics.parse({})),
    rest: rest.default(rest.parse({})),
    validator: validator.default(validator.parse({})),
  })
  .superRefine((c, ctx) => {
    // An Allocate that names no lease gets leases.default_seconds; every identity must be allowed that.
    const check = (value: number | undefined, path: (string | number)[]) => {
      if (value !== undefined && value < c.leases.default_seconds) {
        ctx.addIssue({ code: 'custom', path, message: `must be at least leases.default_seconds (${c.leases.default_seconds})` });
      }
    };
    check(c.limits.max_lease_seconds, ['limits', 'max_lease_seconds']);
    for (const [uri, caps] of Object.entries(c.limits.identities)) check(caps.max_lease_seconds, ['limits', 'identities', uri, 'max_lease_seconds']);
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
