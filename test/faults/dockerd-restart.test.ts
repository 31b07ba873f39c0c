/**
 * Fault suite (npm run test:faults only: it restarts the host's Docker
 * engine): the engine stops and starts again under a running miner. The
 * allocation is still listed, its container comes back (restart policy),
 * and SSH and RunChallenge work again.
 */
import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { allocate, listContainers, minerClient, release, runChallenge } from '../support/clients.js';
import { ssh } from '../support/openssh.js';
import { figure } from './figures.js';
import { useMiner } from './fault-miner.js';

const engineUp = (): boolean => {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, ok: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const t0 = performance.now();
  while (!(await ok())) {
    if (performance.now() - t0 > ms) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return performance.now() - t0;
}

/** Stops dockerd with SIGTERM and starts it again with the same command line; returns how long the engine was gone. */
async function restartDockerd(): Promise<number> {
  const pid = Number(execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(' ')[0]);
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const t0 = performance.now();
  process.kill(pid, 'SIGTERM');
  // Gone only when its process has exited: it stops its containerd last, and a new dockerd started before
  // that cannot reach one.
  await until('dockerd stopped', () => !existsSync(`/proc/${pid}`), 60_000);
  const log = openSync('var/dockerd.log', 'a');
  spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log] }).unref();
  await until('dockerd started again', engineUp, 60_000);
  return performance.now() - t0;
}

describe('faults: the Docker engine restarts under a running miner', function () {
  this.timeout(300_000);
  const minerOf = useMiner();

  it('keeps the allocation; SSH and RunChallenge work again', async () => {
    const c = minerClient(minerOf().address, { caCert: minerOf().pki.caCert, client: minerOf().pki.client('renter', 'restart') });
    const a = await allocate(c, { cpuCount: 1, memory: '128m' });
    try {
      const target = { host: a.host, port: a.sshPort, user: a.username, password: a.password };
      expect((await ssh(target, 'echo before')).stdout.toString().trim()).to.equal('before');
      const downMs = await restartDockerd();
      const backMs = await until('SSH works again', async () => (await ssh(target, 'echo after', { timeoutMs: 10_000 })).stdout.toString().trim() === 'after', 60_000);
      const events = await runChallenge(c, { containerId: a.containerId, command: ['echo', 'challenge'], duration: 10 });
      const last = events.at(-1)?.event;
      figure('dockerd-restart', { engine_gone_ms: downMs, ssh_back_after_ms: backMs });
      expect(last?.$case === 'result' ? last.value.commandResult?.output.trim() : 'no result').to.equal('challenge');
      expect((await listContainers(c)).containers.map((x) => x.containerId)).to.deep.equal([a.containerId]);
    } finally {
      await release(c, a.containerId).catch(() => undefined);
    }
  });
});
