import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BUF = join(process.cwd(), 'node_modules/.bin/buf');
const buf = (...args: string[]) => run(BUF, args);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('the contract (proto/)', () => {
  it('passes buf lint (STANDARD)', async () => {
    const { stdout } = await buf('lint');
    expect(stdout).to.equal('');
  });

  it('is formatted as buf format writes it', async () => {
    await buf('format', '--diff', '--exit-code');
  });

  for (const release of ['v1.0.0', 'v1.1.0', 'v1.2.0'])
    it(`has no breaking change against the released contract ${release}`, async () => {
      await buf('breaking', '--against', `proto/releases/${release}.binpb`);
    });

  it('would fail buf breaking on an incompatible change', async () => {
    // A descriptor set without a field the release has must be reported.
    const dir = mkdtempSync(join(tmpdir(), 'polarise-breaking-'));
    await run('cp', ['-r', 'proto', 'buf.yaml', dir]);
    const path = join(dir, 'proto/polarise/v1/miner.proto');
    const text = readFileSync(path, 'utf8').replace(/\n\s*\/\/ Number of CPU cores\. 0 means[^\n]*\n\s*uint32 cpu_count = 2;/, '\n');
    expect(text).to.not.include('uint32 cpu_count = 2;');
    writeFileSync(path, text);
    const outcome = await run(BUF, ['breaking', '--against', join(process.cwd(), 'proto/releases/v1.0.0.binpb')], { cwd: dir }).then(
      () => 'passed',
      (e: { stdout: string }) => e.stdout,
    );
    expect(outcome).to.match(/cpu_count|deleted/i);
  });

  it('regenerates to exactly the committed code (npm run generate is a no-op)', async function () {
    this.timeout(60_000);
    const out = mkdtempSync(join(tmpdir(), 'polarise-gen-'));
    await buf('generate', '-o', out);
    await buf('build', '-o', join(out, 'common/gen/polarise.binpb'));
    const fresh = files(join(out, 'common/gen')).map((p) => relative(out, p)).sort();
    const committed = files('common/gen').sort();
    expect(fresh).to.deep.equal(committed);
    for (const path of committed) {
      expect(readFileSync(join(out, path)).equals(readFileSync(path)), `${path} differs from a fresh generation`).to.equal(true);
    }
  });
});
