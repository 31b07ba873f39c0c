/**
 * npm run miner [-- --config FILE]
 * Starts the miner: adopts the containers a previous run left, then serves
 * MinerService (mutual TLS) with health and reflection, one SSH listener per
 * allocation, and the lease reconciler.
 */
import Docker from 'dockerode';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import { parseMemory } from '../common/units.js';
import { createLogger, type Logger } from '../common/logger.js';
import { ChallengeRunner } from './challenges/challenge-runner.js';
import { OrphanReaper } from './challenges/orphan-reaper.js';
import { ChallengeAdmission, withChallengeLimits } from './challenges/challenge-limits.js';
import { ContainerManager } from './containers/container-manager.js';
import { loadOrCreateInstanceId } from './containers/instance-id.js';
import { acquirePrefixLock, engineEndpoint } from './containers/prefix-lock.js';
import { startMinerServer, type RunningServer } from './server/grpc-server.js';
import { rateLimited, RateLimiter } from './server/rate-limit.js';
import { serveRestApi, type RunningRestServer } from './rest/rest-server.js';
import { MinerService } from './miner-service.js';
import { Reconciler } from './allocations/reconciler.js';
import { DiskGuard } from './allocations/disk-guard.js';
import { Counter } from 'prom-client';
import { SshGateway } from './ssh/ssh-gateway.js';
import { loadOrCreateHostKey } from './ssh/ssh-host-key.js';
import { MinerMetrics } from './telemetry/miner-metrics.js';
import { serveMetrics, type MetricsEndpoint } from '../common/metrics-http.js';

const USAGE = `Usage: npm run miner [-- --config FILE]

Starts a Polarise miner: a gRPC server with mutual TLS on network.host:network.port
serving polarise.v1.MinerService, grpc.health.v1.Health and server reflection,
and one SSH endpoint per allocation on ssh.port_range.

Options:
  --config FILE   configuration file (default: config/config.yaml)
  --help          show this text

Environment: POLARISE_<SECTION>_<KEY> overrides a config key, e.g. POLARISE_NETWORK_PORT=9443.
Stop with SIGTERM or Ctrl-C: the miner drains open calls and keeps every lease
(containers keep running; the next start adopts them).`;

interface Parts {
  manager: ContainerManager;
  service: MinerService;
  reconciler: Reconciler;
  diskGuard: DiskGuard;
  metrics: MinerMetrics;
  hostKeyFingerprint: string;
}

/** Wires the miner's components from the configuration; nothing runs yet. */
function assemble(config: Config, docker: Docker, instanceId: string, log: Logger): Parts {
  const hostKey = loadOrCreateHostKey(config.ssh.host_key);
  // Capacity is read through `service`, created below.
  const metrics = new MinerMetrics(() => service.capacity());
  const manager = new ContainerManager(
    docker,
    {
      image: config.docker.base_image,
      maker: { prefix: config.docker.container_prefix, instanceId },
      pidsLimit: config.docker.pids_limit,
      internalNetwork: config.docker.internal_network,
      disk: {
        layerBytes: parseMemory(config.docker.disk_limit, 'docker.disk_limit'),
        io: {
          readBps: parseMemory(config.docker.io_read_bps, 'docker.io_read_bps'),
          writeBps: parseMemory(config.docker.io_write_bps, 'docker.io_write_bps'),
          weight: config.docker.io_weight,
        },
      },
    },
    log.child({ part: 'containers' }),
  );
  const gateway = new SshGateway(
    docker,
    {
      host: config.network.host,
      hostKey: hostKey.privateKey,
      maxAuthFailures: config.ssh.max_auth_failures,
      authWindowMs: config.ssh.auth_window_seconds * 1000,
      preauth: {
        maxStartups: config.ssh.max_startups,
        perSourceMaxStartups: config.ssh.per_source_max_startups,
        loginGraceMs: config.ssh.login_grace_seconds * 1000,
      },
      observer: {
        connected: () => metrics.sshSessions.inc(),
        disconnected: () => metrics.sshSessions.dec(),
        loginFailed: () => metrics.sshFailedLogins.inc(),
      },
    },
    log.child({ part: 'ssh' }),
  );
  const service = new MinerService({
    config,
    manager,
    gateway,
    hostKeyFingerprint: hostKey.fingerprint,
    runner: new ChallengeRunner(docker, config.challenge, log.child({ part: 'challenge' })),
    log,
  });
  // Before adopting a container, end what the previous run's calls left running in it.
  const reaper = new OrphanReaper(docker, log.child({ part: 'adoption' }));
  const reconcilerLog = log.child({ part: 'reconciler' });
  const reconciler = new Reconciler(service.allocations, manager, config.leases.reconcile_interval_seconds * 1000, reconcilerLog, Date.now, (id) => reaper.reap(id));
  const diskGuard = guardDisks(config, docker, service, metrics, log);
  return { manager, service, reconciler, diskGuard, metrics, hostKeyFingerprint: hostKey.fingerprint };
}

/** docker.disk_limit on every ready allocation, each reconcile interval; removals are counted. */
function guardDisks(config: Config, docker: Docker, service: MinerService, metrics: MinerMetrics, log: Logger): DiskGuard {
  const removals = new Counter({
    name: 'polarise_miner_disk_limit_removals_total',
    help: 'Allocations removed because their writable layer went above docker.disk_limit',
    registers: [metrics.registry],
  });
  const options = {
    limitBytes: parseMemory(config.docker.disk_limit, 'docker.disk_limit'),
    intervalMs: config.leases.reconcile_interval_seconds * 1000,
    onRemoved: () => removals.inc(),
  };
  return new DiskGuard(service.allocations, docker, options, log.child({ part: 'disk-guard' }));
}

/**
 * Puts the network isolation rules in place, then adopts what a previous run
 * left before serving, so that the first ListContainers is complete. Without
 * Docker the miner still starts (and answers UNAVAILABLE); the reconciler
 * adopts once Docker is back. Without isolation it starts too, so that
 * adopted tenants keep their SSH, but refuses Allocate (UNAVAILABLE) until
 * the reconciler has restored the rules.
 */
async function adopt(parts: Parts, config: Config, log: Logger): Promise<void> {
  await parts.service.allocations.isolation.ensure();
  try {
    const host = await parts.service.hostResources();
    if (!(await parts.manager.imageExists())) log.warn('the base image is missing; run scripts/setup.sh', { image: config.docker.base_image });
    await parts.reconciler.reconcile();
    log.info('adopted existing allocations', { count: parts.service.registry.all().length, cpus: host.cpus, memoryBytes: host.memoryBytes });
  } catch (err) {
    log.error('Docker is not usable yet; will keep trying', { error: errorMessage(err) });
  }
  parts.reconciler.start();
  parts.diskGuard.start();
}

/**
 * This miner's instance id, and the lock on its container prefix on this
 * engine, held until the process ends: a second miner with the same prefix
 * stops here, before it touches Docker.
 */
async function takePrefix(config: Config, docker: Docker, log: Logger): Promise<string> {
  const instanceId = loadOrCreateInstanceId(config.docker.state_dir);
  const prefix = config.docker.container_prefix;
  const engine = await engineEndpoint(docker.modem as unknown as Parameters<typeof engineEndpoint>[0]);
  await acquirePrefixLock(engine, { pid: process.pid, instance: instanceId, prefix, stateDir: config.docker.state_dir });
  log.info('holding the container prefix on this Docker engine', { prefix, engine, instance: instanceId });
  return instanceId;
}

async function serveOperatorMetrics(parts: Parts, config: Config, log: Logger): Promise<MetricsEndpoint | undefined> {
  if (!config.metrics.enabled) return undefined;
  const endpoint = await serveMetrics(parts.metrics.registry, config.metrics.host, config.metrics.port);
  log.info('metrics endpoint (Prometheus text)', { url: `http://${config.metrics.host}:${endpoint.port}/metrics` });
  return endpoint;
}

/** SIGTERM and SIGINT drain open calls and keep every lease (containers keep running). */
function stopOnSignals(parts: Parts, server: RunningServer, metricsEndpoint: MetricsEndpoint | undefined, log: Logger, rest?: RunningRestServer): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down; leases and containers stay', { signal });
    parts.reconciler.stop();
    parts.diskGuard.stop();
    void Promise.all([server.stop(), rest?.stop(), parts.service.close(), metricsEndpoint?.close()]).then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string', default: 'config/config.yaml' }, help: { type: 'boolean', default: false } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const log = createLogger({ component: 'miner' });
  const config = loadConfig(values.config!);
  const docker = new Docker();
  const instanceId = await takePrefix(config, docker, log);
  const parts = assemble(config, docker, instanceId, log);
  await adopt(parts, config, log);
  const metricsEndpoint = await serveOperatorMetrics(parts, config, log);
  // One handler object (and one set of rate buckets per identity) behind both APIs.
  // Challenges at once (challenge.max_concurrent_*) are counted inside the rate limit, for both APIs too.
  const limited = withChallengeLimits(parts.service, new ChallengeAdmission(config.challenge));
  const handlers = rateLimited(limited, new RateLimiter(config.limits.rate, config.limits.rate_max_identities));
  const server = await startMinerServer({
    host: config.network.host,
    port: config.network.port,
    tls: {
      caCert: config.security.ca_cert,
      cert: config.security.cert,
      key: config.security.key,
      reloadMs: config.security.reload_seconds * 1000,
    },
    handlers,
    log,
    metrics: parts.metrics,
    limits: config.challenge,
  });
  const rest = await serveRestApi(config, handlers, log);
  log.info('miner listening (mutual TLS)', { host: config.network.host, port: server.port, sshHostKey: parts.hostKeyFingerprint });
  stopOnSignals(parts, server, metricsEndpoint, log, rest);
}

main().catch((err) => {
  if (err instanceof ConfigError) console.error(`miner: configuration error: ${err.message}`);
  else console.error(`miner: ${errorMessage(err)}`);
  process.exit(1);
});
