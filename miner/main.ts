/**
 * npm run miner [-- --config FILE]
 * Starts the miner's gRPC server (mutual TLS) with the configured services.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { startMinerServer } from './grpc-server.js';
import { unimplementedHandlers } from './unimplemented-handlers.js';

const USAGE = `Usage: npm run miner [-- --config FILE]

Starts a Polarise miner: a gRPC server with mutual TLS on network.host:network.port
serving polarise.v1.MinerService, grpc.health.v1.Health and server reflection.

Options:
  --config FILE   configuration file (default: config/config.yaml)
  --help          show this text

Environment: POLARISE_<SECTION>_<KEY> overrides a config key, e.g. POLARISE_NETWORK_PORT=9443.
Stop with SIGTERM or Ctrl-C: the miner drains open calls and keeps every lease.`;

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
  const server = await startMinerServer({
    host: config.network.host,
    port: config.network.port,
    tls: { caCert: config.security.ca_cert, cert: config.security.cert, key: config.security.key },
    handlers: unimplementedHandlers,
    log,
  });
  log.info('miner listening (mutual TLS)', { host: config.network.host, port: server.port });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    void server.stop().then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => {
  if (err instanceof ConfigError) console.error(`miner: configuration error: ${err.message}`);
  else console.error(`miner: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
