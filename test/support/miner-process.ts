/**
 * Starts a real miner (`tsx miner/main.ts`) as a child process with its own
 * config file: its own port, container prefix, SSH port range and state
 * folder (instance id, SSH host key), so that test suites never touch each
 * other's containers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { removeResources } from './docker.js';
import { whenInterrupted } from './interrupt-cleanup.js';
import { testPki, type TestPki } from './pki.js';

export interface MinerProcess {
  address: string;
  /** Its instance id (docker.state_dir/instance-id), the polarise.instance label of what it makes. */
  instanceId(): string;
  port: number;
  pki: TestPki;
  configPath: string;
  stateDir: string;
  prefix: string;
  logs: string[];
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

let counter = 0;

export interface MinerOptions {
  /** Deep-merged over the test defaults. */
  config?: Record<string, Record<string, unknown>>;
  /** Reuse an existing config file and state (for restart tests). */
  reuse?: { configPath: string; stateDir: string; prefix: string };
  env?: NodeJS.ProcessEnv;
}

export function sshPortRange(): string {
  // Separate ranges per process and per miner within it.
  const base = 20000 + ((process.pid * 7) % 400) * 100 + (counter % 10) * 10;
  return `${base}-${base + 9}`;
}

export async function startMiner(options: MinerOptions = {}): Promise<MinerProcess> {
  const pki = testPki();
  let configPath: string;
  let stateDir: string;
  let prefix: string;
  if (options.reuse) {
    ({ configPath, stateDir, prefix } = options.reuse);
  } else {
    counter++;
    stateDir = mkdtempSync(join(tmpdir(), 'polarise-miner-'));
    prefix = `ptest-${process.pid}-${counter}-`;
    const defaults: Record<string, Record<string, unknown>> = {
      network: { host: '127.0.0.1', port: 0, advertise_host: '127.0.0.1' },
      security: { ca_cert: pki.caCert, cert: pki.miner.cert, key: pki.miner.key },
      docker: { container_prefix: prefix, state_dir: stateDir, default_memory: '256m', host_reserve_memory: '512m' },
      ssh: { port_range: sshPortRange(), host_key: join(stateDir, 'ssh_host_ed25519_key') },
    };
    for (const [section, values] of Object.entries(options.config ?? {})) {
      defaults[section] = { ...(defaults[section] ?? {}), ...values };
    }
    configPath = join(stateDir, 'config.yaml');
    writeFileSync(configPath, stringify(defaults));
  }

  const child = spawn(process.execPath, ['--import', 'tsx', 'miner/main.ts', '--config', configPath], {
    env: { ...process.env, POLARISE_LOG_LEVEL: 'debug', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let listening = false;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`miner did not start within 30 s:\n${logs.join('\n')}`)), 30_000);
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        logs.push(line);
        const match = /"msg":"miner listening[^"]*".*"port":(\d+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          listening = true;
          resolve(Number(match[1]));
        }
      }
    };
    child.stdout!.on('data', onLine);
    child.stderr!.on('data', onLine);
    child.on('exit', (code) => {
      clearTimeout(timer);
      // Refused at start: nothing will reuse its fresh state folder.
      if (!listening && !options.reuse) rmSync(stateDir, { recursive: true, force: true });
      reject(new Error(`miner exited with ${code} before listening:\n${logs.join('\n')}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // A harness or benchmark stopped by SIGINT/SIGTERM runs no finally: the miner goes, then all it made.
  const forget = whenInterrupted(`miner ${prefix}`, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await removeResources(prefix);
  });
  void exited.then(forget);
  return {
    address: `localhost:${port}`,
    instanceId: () => readFileSync(join(stateDir, 'instance-id'), 'utf8').trim(),
    port,
    pki,
    configPath,
    stateDir,
    prefix,
    logs,
    child,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
