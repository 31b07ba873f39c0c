/** The README's first command, `npm start`, as a newcomer runs it (twice). */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { countResources, requireDocker } from '../support/docker.js';

const run = promisify(execFile);

describe('npm start: a miner and a validator round end to end', function () {
  this.timeout(300_000);
  before(requireDocker);

  const prefix = (parse(readFileSync('config/config.yaml', 'utf8')) as { docker: { container_prefix: string } }).docker.container_prefix;

  for (const attempt of ['first', 'second']) {
    it(`exits 0 with a score table and a report (${attempt} run, nothing left behind)`, async () => {
      const before = await countResources(prefix);
      const { stdout, stderr } = await run('npm', ['start'], { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, CI: 'true' } });
      const out = stdout + stderr;
      expect(out).to.match(/miner listening on localhost:\d+/);
      expect(out).to.match(/event":"score"|score miner=local-miner/);
      expect(out).to.include('report: var/demo/report.html');
      expect(out).to.include('miner stopped');
      expect(existsSync('var/demo/report.html')).to.equal(true);
      expect(readFileSync('var/demo/report.html', 'utf8')).to.include('local-miner');
      expect(await countResources(prefix)).to.deep.equal(before);
    });
  }
});
