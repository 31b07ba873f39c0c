import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProbe, probePath } from '../fixtures/probe-executors.js';

const SEED = '11'.repeat(32);
const run = (...args: string[]) => spawnSync(probePath(), args, { encoding: 'utf8' });

describe('probe CLI', function () {
  this.timeout(60_000);
  let state: string;
  before(() => {
    buildProbe();
    state = mkdtempSync(join(tmpdir(), 'polarise-cli-'));
  });
  after(() => rmSync(state, { recursive: true, force: true }));

  const bad: [string, string[], RegExp][] = [
    ['no command', [], /usage: probe/],
    ['unknown command', ['gpu'], /unknown command 'gpu'/],
    ['missing seed', ['cpu', 'commit', '--n', '64', '--workers', '1', '--modulus', '65537', '--factors', '2'], /missing required option --seed/],
    ['short seed', ['cpu', 'commit', '--seed', 'abcd', '--n', '64', '--workers', '1', '--modulus', '65537', '--factors', '2'], /--seed: expected 16 to 64 bytes/],
    ['non-hex seed', ['cpu', 'commit', '--seed', 'zz'.repeat(16), '--n', '64', '--workers', '1', '--modulus', '65537', '--factors', '2'], /not hexadecimal/],
    ['n not a multiple of 32', ['cpu', 'commit', '--seed', SEED, '--n', '100', '--workers', '1', '--modulus', '65537', '--factors', '2'], /not a multiple of 32/],
    ['composite modulus', ['cpu', 'commit', '--seed', SEED, '--n', '64', '--workers', '1', '--modulus', '65536', '--factors', '2'], /not prime/],
    ['modulus too large', ['cpu', 'commit', '--seed', SEED, '--n', '64', '--workers', '1', '--modulus', '16777259', '--factors', '2'], /out of range/],
    ['missing factors', ['cpu', 'commit', '--seed', SEED, '--n', '64', '--workers', '1', '--modulus', '65537'], /missing required option --factors/],
    ['too many factors', ['cpu', 'commit', '--seed', SEED, '--n', '64', '--workers', '1', '--modulus', '65537', '--factors', '65'], /--factors: 65 is out of range/],
    ['open without rows', ['cpu', 'open', '--seed', SEED], /give --rows/],
    ['too many rows', ['cpu', 'open', '--seed', SEED, '--rows', Array.from({ length: 257 }, (_, i) => i).join(',')], /--rows: more than 256 entries/],
    ['zero workers', ['cpu', 'commit', '--seed', SEED, '--n', '64', '--workers', '0', '--modulus', '65537', '--factors', '2'], /out of range/],
    ['negative number', ['cpu', 'commit', '--seed', SEED, '--n', '-64', '--workers', '1', '--modulus', '65537', '--factors', '2'], /not a decimal integer/],
    ['unknown option', ['cpu', 'open', '--seed', SEED, '--verbose', '1'], /unknown option --verbose/],
    ['option twice', ['cpu', 'open', '--seed', SEED, '--seed', SEED], /given twice/],
    ['size not MiB', ['mem', 'commit', '--seed', SEED, '--size', '1000'], /out of range|multiple of 1 MiB/],
    ['steps vs interval', ['mem', 'open', '--seed', SEED, '--nonce', SEED, '--steps', '100', '--interval', '64'], /multiple of --interval/],
    ['bad list', ['mem', 'prove', '--seed', SEED, '--segments', '1,,2'], /comma-separated/],
  ];
  for (const [name, args, message] of bad)
    it(`rejects ${name} with usage on stderr and exit 2`, () => {
      const r = run(...args);
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stderr).to.match(message);
      expect(r.stdout).to.equal('');
    });

  it('reports a missing state as a JSON error line and exit 1', () => {
    const r = run('cpu', 'open', '--seed', SEED, '--rows', '0', '--state', state);
    expect(r.status).to.equal(1);
    expect(JSON.parse(r.stdout.trim())).to.include({ type: 'error' });
  });

  it('prints JSON lines and leaves no state after cpu open and mem prove', () => {
    const c = run('cpu', 'commit', '--seed', SEED, '--n', '64', '--workers', '2', '--modulus', '65537', '--factors', '3', '--state', state);
    expect(c.status).to.equal(0);
    const recs = c.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(recs.map((r) => r.type)).to.deep.equal(['cpu-commit', 'cpu-commit', 'cpu-commit-done', 'rusage']);
    const rowOutOfRange = run('cpu', 'open', '--seed', SEED, '--rows', '0,128', '--state', state);
    expect(rowOutOfRange.status).to.equal(2);
    expect(rowOutOfRange.stderr).to.match(/--rows: 128 is out of range \[0, 128\)/);
    const o = run('cpu', 'open', '--seed', SEED, '--rows', '0,127', '--state', state);
    expect(o.status).to.equal(0);
    expect(o.stdout.trim().split('\n').map((l) => JSON.parse(l).type)).to.deep.equal(['cpu-row', 'cpu-row', 'cpu-open-done', 'rusage']);
    expect(run('mem', 'commit', '--seed', SEED, '--size', String(1 << 20), '--state', state).status).to.equal(0);
    expect(run('mem', 'open', '--seed', SEED, '--nonce', SEED, '--steps', '128', '--state', state).status).to.equal(0);
    const p = run('mem', 'prove', '--seed', SEED, '--segments', '0,1', '--blocks', '0,5', '--state', state);
    expect(p.status).to.equal(0);
    expect(p.stdout.trim().split('\n').map((l) => JSON.parse(l).type)).to.deep.equal(['mem-segment', 'mem-segment', 'mem-block', 'mem-block', 'mem-prove-done', 'rusage']);
    expect(readdirSync(state)).to.deep.equal([]);
    expect(run('mem', 'commit', '--seed', SEED, '--size', String(1 << 20), '--state', state).status).to.equal(0);
    expect(run('mem', 'clean', '--seed', SEED, '--state', state).status).to.equal(0);
    expect(existsSync(join(state, `polarise-mem-${'11'.repeat(8)}`))).to.equal(false);
  });
});
