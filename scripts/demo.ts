/**
 * npm start: the whole system on this machine. Starts a miner with the
 * example config and the development certificates, runs one validator round
 * against it with the live view, prints the scores and the report's path,
 * and stops the miner. (npm runs scripts/setup.sh first.)
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../common/errors.js';

const CONFIG = 'config/config.yaml';
const DEMO_DIR = 'var/demo';

/**
 * The demo's miner is a second miner on this engine: it must not collide
 * with one started by `npm run miner` (same config file), so it gets its
 * own container prefix, state (instance id, lock, host key) and ports.
 */
const DEMO_PREFIX = 'polarise-demo-';
const DEMO_MINER_ENV: NodeJS.ProcessEnv = {
  POLARISE_NETWORK_PORT: '0',
  POLARISE_NETWORK_HOST: '127.0.0.1',
  POLARISE_DOCKER_CONTAINER_PREFIX: DEMO_PREFIX,
  POLARISE_DOCKER_STATE_DIR: `${DEMO_DIR}/miner`,
  POLARISE_SSH_HOST_KEY: `${DEMO_DIR}/miner/ssh_host_ed25519_key`,
  POLARISE_SSH_PORT_RANGE: '2400-2449',
  POLARISE_METRICS_ENABLED: 'false',
  POLARISE_REST_ENABLED: 'false',
};

function say(text: string): void {
  process.stderr.write(`\x1b[1m[start]\x1b[0m ${text}\n`);
}

async function startMiner(): Promise<{ port: number; stop: () => Promise<void> }> {
  mkdirSync(DEMO_DIR, { recursive: true });
  const log = createWriteStream(`${DEMO_DIR}/miner.log`);
  // Port 0: a free port, read back from the miner's log line.
  const child = spawn(process.execPath, ['--import', 'tsx', 'miner/main.ts', '--config', CONFIG], {
    env: { ...process.env, ...DEMO_MINER_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the miner did not start within 60 s; see ${DEMO_DIR}/miner.log`)), 60_000);
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      const match = /"msg":"miner listening[^"]*".*?"port":(\d+)/.exec(chunk.toString());
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`the miner exited (${code}) before listening; see ${DEMO_DIR}/miner.log`)));
  });
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      log.end();
    },
  };
}

async function main(): Promise<number> {
  say('starting a miner (log: var/demo/miner.log)');
  const miner = await startMiner();
  say(`miner listening on localhost:${miner.port} (mutual TLS)`);
  try {
    const config = parse(readFileSync(CONFIG, 'utf8')) as Record<string, Record<string, unknown>>;
    config.validator = {
      ...(config.validator ?? {}),
      miners: [{ name: 'local-miner', address: `localhost:${miner.port}` }],
      database: `${DEMO_DIR}/validator.db`,
      report: `${DEMO_DIR}/report.html`,
    };
    const demoConfig = `${DEMO_DIR}/config.yaml`;
    writeFileSync(demoConfig, stringify(config));
    say('running one validator round against it');
    const code = await new Promise<number>((resolve) => {
      const validator = spawn(process.execPath, ['--import', 'tsx', 'validator/main.ts', 'run', '--once', '--config', demoConfig], { stdio: 'inherit' });
      validator.on('exit', (c) => resolve(c ?? 1));
    });
    if (code === 0) say(`report: ${DEMO_DIR}/report.html`);
    return code;
  } finally {
    await miner.stop();
    say('miner stopped');
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`start: ${errorMessage(err)}`);
    process.exit(1);
  },
);
