import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { countResources, removeResources } from '../support/docker.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3'; // Debian's, which has python3-grpcio

describe('a client in another language (Python, generated from proto/)', () => {
  let miner: MinerProcess;
  let gen: string;
  before(async function () {
    this.timeout(120_000);
    gen = mkdtempSync(join(tmpdir(), 'polarise-py-'));
    await run('bash', ['examples/python/generate.sh', gen]);
    miner = await startMiner();
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  const python = (client: { cert: string; key: string }, ...args: string[]) =>
    run(
      PYTHON,
      ['examples/python/polarise_client.py', '--address', miner.address, '--ca', miner.pki.caCert, '--cert', client.cert, '--key', client.key, ...args],
      { env: { ...process.env, POLARISE_PY_GEN: gen } },
    );

  it('calls the miner over mutual TLS (health)', async () => {
    const { stdout } = await python(miner.pki.client('validator'), 'health');
    expect(stdout.trim()).to.equal('SERVING');
  });

  it('runs the example end to end: allocate, stream a challenge with live samples, release', async () => {
    const { stdout } = await python(miner.pki.client('renter'), 'demo');
    expect(stdout).to.match(/^allocated \S+ \(\w{12}\); ssh root@127\.0\.0\.1 -p \d+$/m);
    const samples = stdout.split('\n').filter((l) => l.startsWith('sample '));
    expect(samples.length, stdout).to.be.at.least(10);
    expect(stdout).to.match(/^result status=CHALLENGE_STATUS_COMPLETED exit_code=0 output='done'$/m);
    expect(stdout).to.match(/^released \w{12}$/m);
    expect((await countResources(miner.prefix)).containers).to.equal(0);
  });

  it('is refused with a certificate from another CA', async () => {
    const err = await python(miner.pki.foreign, 'health').then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err, 'the call should have failed').to.not.equal(null);
    expect(err!.stderr).to.match(/UNAVAILABLE/);
  });
});
