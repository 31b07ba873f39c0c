/**
 * The README's first command, `npm start`, as a newcomer runs it (twice),
 * and once more while a miner with the default container prefix (what
 * `npm run miner` runs) holds an allocation on the same engine.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { allocate, minerClient } from '../support/clients.js';
import { countResources, docker, removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';

const run = promisify(execFile);
/** scripts/demo.ts gives its miner this prefix of its own. */
const DEMO_PREFIX = 'polarise-demo-';

/** The validator's plain-mode score line for the demo's miner, as numbers. */
function scoreOf(out: string): Record<string, string> {
  const line = out.split('\n').find((l) => / score miner=local-miner /.test(l));
  expect(line, `no score line for local-miner in:\n${out.slice(-4000)}`).to.be.a('string');
  const fields: Record<string, string> = {};
  for (const m of line!.matchAll(/ (\w+)=("[^"]*"|\S+)/g)) fields[m[1]!] = m[2]!;
  return fields;
}

async function npmStart(): Promise<string> {
  const { stdout, stderr } = await run('npm', ['start'], { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, CI: 'true' } });
  const out = stdout + stderr;
  expect(out).to.match(/miner listening on localhost:\d+/);
  expect(out).to.include('report: var/demo/report.html');
  expect(out).to.include('miner stopped');
  // The honest miner scored: a round score and its compute and memory proofs above zero, no error.
  const score = scoreOf(out);
  expect(score, JSON.stringify(score)).to.not.have.property('error');
  for (const key of ['round', 'compute', 'memory']) expect(Number(score[key]), `${key} in ${JSON.stringify(score)}`).to.be.above(0);
  return out;
}

/** Removes a network, waiting while a container just removed still detaches from it. */
async function removeNetwork(id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await docker.getNetwork(id).remove();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return;
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

describe('npm start: a miner and a validator round end to end', function () {
  this.timeout(300_000);
  before(requireDocker);

  for (const attempt of ['first', 'second']) {
    it(`exits 0, and the honest miner scores above zero, with a report (${attempt} run, nothing left behind)`, async () => {
      const before = await countResources(DEMO_PREFIX);
      await npmStart();
      expect(existsSync('var/demo/report.html')).to.equal(true);
      expect(readFileSync('var/demo/report.html', 'utf8')).to.include('local-miner');
      expect(await countResources(DEMO_PREFIX)).to.deep.equal(before);
    });
  }

  describe('beside a running miner with the default container prefix', () => {
    const defaultPrefix = (parse(readFileSync('config/config.yaml', 'utf8')) as { docker: { container_prefix: string } }).docker.container_prefix;
    let miner: MinerProcess | undefined;

    after(async () => {
      await miner?.stop();
      if (miner) {
        // Only what this test's miner made: its instance id is in the label.
        for (const c of await docker.listContainers({ all: true, filters: { label: [`polarise.instance=${miner.instanceId()}`] } })) {
          await docker.getContainer(c.Id).remove({ force: true });
        }
        for (const n of await docker.listNetworks({ filters: { label: [`polarise.instance=${miner.instanceId()}`] } })) await removeNetwork(n.Id);
        rmSync(miner.stateDir, { recursive: true, force: true });
      }
      await removeResources(DEMO_PREFIX);
    });

    it('neither miner touches the other: the demo scores, the running miner keeps its allocation and adopts nothing', async () => {
      miner = await startMiner({ config: { docker: { container_prefix: defaultPrefix }, leases: { reconcile_interval_seconds: 0.5 } } });
      const client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', 'rhea') });
      await ready(client);
      const held = await allocate(client, { memory: '64m' });
      client.close();
      const logsBefore = miner.logs.length;

      await npmStart();

      expect((await docker.getContainer(held.containerId).inspect()).State.Running).to.equal(true);
      const later = miner.logs.slice(logsBefore).join('\n');
      expect(later).to.not.match(/"msg":"(adopted|removing a half-created container|removed|removing an orphaned network)"/);
      expect(await countResources(DEMO_PREFIX)).to.deep.equal({ containers: 0, networks: 0 });
    });
  });
});
