import { expect } from 'chai';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { countResources, removeResources, requireDocker } from '../support/docker.js';

const run = promisify(execFile);

function haveGo(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('a client in another language (Go, generated from proto/ with Debian toolchain)', () => {
  let miner: MinerProcess;
  let out: string;
  let client: string;
  before(async function () {
    // A cold build compiles grpc-go from /usr/share/gocode (20 to 30 s on
    // this machine's 2 cores); Go's build cache makes later runs take 2 s.
    this.timeout(300_000);
    if (!haveGo()) {
      // scripts/setup.sh installs Go; in CI a missing toolchain is a failure.
      if (process.env.CI) throw new Error('go is not installed: scripts/setup.sh should have installed golang-go');
      this.skip();
    }
    await requireDocker();
    out = mkdtempSync(join(tmpdir(), 'polarise-go-'));
    const built = await run('bash', ['examples/go/build.sh', out], { env: { ...process.env } });
    client = built.stdout.trim();
    miner = await startMiner();
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
    if (out) rmSync(out, { recursive: true, force: true });
  });

  const go = (pem: { cert: string; key: string }, ...args: string[]) =>
    run(client, ['-address', miner.address, '-ca', miner.pki.caCert, '-cert', pem.cert, '-key', pem.key, ...args], {
      timeout: 90_000,
    });

  it('generates the code at build time, outside the repository, and builds without downloading', () => {
    for (const f of ['polarisev1/miner.pb.go', 'polarisev1/miner_grpc.pb.go', 'healthv1/health.pb.go', 'healthv1/health_grpc.pb.go']) {
      expect(existsSync(join(out, 'src/polarise/gen', f)), f).to.equal(true);
    }
    expect(existsSync(client)).to.equal(true);
  });

  it('calls the miner over mutual TLS (health)', async () => {
    const { stdout } = await go(miner.pki.client('validator'), 'health');
    expect(stdout.trim()).to.equal('SERVING');
  });

  it('runs the example end to end: health, allocate, stream a challenge with live samples, list, release', async () => {
    const { stdout } = await go(miner.pki.client('renter'), 'demo');
    expect(stdout).to.match(/^health SERVING$/m);
    const allocated = /^allocated (\S+) \((\w{12})\); ssh root@127\.0\.0\.1 -p \d+$/m.exec(stdout);
    expect(allocated, stdout).to.not.equal(null);
    const [, name = '', id = ''] = allocated!;
    expect(name.startsWith(miner.prefix), name).to.equal(true);

    const samples = stdout.split('\n').filter((l) => l.startsWith('sample '));
    expect(samples.length, stdout).to.be.at.least(10);
    // Live: taken while the busy loop (2 to 3 s) ran, 100 ms apart, and
    // they saw it use CPU.
    const times = samples.map((l) => Number(/t=\s*([\d.]+)s/.exec(l)![1]));
    expect(times, stdout).to.deep.equal([...times].sort((a, b) => a - b));
    expect(times.at(-1)! - times[0]!, stdout).to.be.at.least(1.5);
    const cpus = samples.map((l) => Number(/cpu=\s*([\d.]+)%/.exec(l)![1]));
    expect(Math.max(...cpus), stdout).to.be.greaterThan(0);
    expect(stdout).to.match(new RegExp(`^${samples.length} samples streamed$`, 'm'));
    expect(stdout).to.match(/^result status=CHALLENGE_STATUS_COMPLETED exit_code=0 output="done"$/m);

    expect(stdout).to.match(new RegExp(`^listed ${id} ${name} running cpus=1 memory=268435456 ssh_port=\\d+ `, 'm'));
    expect(stdout).to.match(/^1 containers$/m);
    // Printed in order: allocate, samples, result, list, release.
    const at = (re: RegExp) => stdout.search(re);
    expect(at(/^allocated /m)).to.be.lessThan(at(/^sample /m));
    expect(at(/^result /m)).to.be.lessThan(at(/^listed /m));
    expect(at(/^listed /m)).to.be.lessThan(at(/^released /m));
    expect(stdout).to.match(new RegExp(`^released ${id}$`, 'm'));

    expect((await countResources(miner.prefix)).containers).to.equal(0);
    const { stdout: after } = await go(miner.pki.client('renter'), 'list');
    expect(after.trim()).to.equal('0 containers');
  });

  it('is refused with a certificate from another CA', async () => {
    const err = await go(miner.pki.foreign, 'health').then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err, 'the call should have failed').to.not.equal(null);
    expect(err!.code).to.equal(1);
    expect(err!.stderr).to.match(/^error: UNAVAILABLE: /m);
  });
});

describe('README: the Go client block', function () {
  this.timeout(300_000);
  let miner: MinerProcess;
  before(async function () {
    if (!haveGo()) {
      if (process.env.CI) throw new Error('go is not installed: scripts/setup.sh should have installed golang-go');
      this.skip();
    }
    await requireDocker();
    // The development certificates the README uses (scripts/setup.sh makes them).
    miner = await startMiner({ config: { security: { ca_cert: 'certs/dev/ca.crt', cert: 'certs/dev/miner.crt', key: 'certs/dev/miner.key' } } });
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('builds into examples/go/gen and runs health and demo as written (only the port differs)', async () => {
    const text = readFileSync('README.md', 'utf8');
    const match = /<!-- go-client-example -->\n```sh\n([\s\S]*?)```\n<!-- \/go-client-example -->/.exec(text);
    expect(match, 'README.md has a go-client-example block').to.not.equal(null);
    const block = match![1]!;
    expect(block).to.include('localhost:8443');
    const script = block.replaceAll('localhost:8443', `localhost:${miner.port}`);
    const { stdout } = await run('bash', ['-e', '-o', 'pipefail', '-c', script], { timeout: 240_000 });
    expect(stdout).to.match(/^SERVING$/m);
    expect(stdout).to.match(/^allocated \S+ \(\w{12}\); ssh root@127\.0\.0\.1 -p \d+$/m);
    expect(stdout).to.match(/^result status=CHALLENGE_STATUS_COMPLETED exit_code=0 output="done"$/m);
    expect(stdout).to.match(/^listed \w{12} /m);
    expect(stdout).to.match(/^released \w{12}$/m);
    expect((await countResources(miner.prefix)).containers, 'Release removed the container').to.equal(0);
  });
});
