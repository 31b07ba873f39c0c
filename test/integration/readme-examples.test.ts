/** The README's command examples, run as written (only the miner's port differs). */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { countResources, removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';

const run = promisify(execFile);

function readmeBlock(marker: string): string {
  const text = readFileSync('README.md', 'utf8');
  const match = new RegExp(`<!-- ${marker} -->\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\`\\n<!-- /${marker} -->`).exec(text);
  if (!match) throw new Error(`README.md has no ${marker} block`);
  return match[1]!;
}

describe('README: the buf curl examples', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  before(async () => {
    await requireDocker();
    // The development certificates the README uses (scripts/setup.sh makes them).
    miner = await startMiner({ config: { security: { ca_cert: 'certs/dev/ca.crt', cert: 'certs/dev/miner.crt', key: 'certs/dev/miner.key' } } });
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('list, health, Allocate, streaming RunChallenge, ListContainers and Release work as written', async () => {
    const block = readmeBlock('buf-curl-example');
    expect(block).to.include('MINER=https://localhost:8443');
    const script = block.replace('MINER=https://localhost:8443', `MINER=https://localhost:${miner.port}`);
    const { stdout } = await run('bash', ['-e', '-o', 'pipefail', '-c', script], { maxBuffer: 16 * 1024 * 1024 });
    expect(stdout).to.include('polarise.v1.MinerService/RunChallenge');
    expect(stdout).to.include('"status": "SERVING"');
    expect(stdout).to.match(/"sample": \{[\s\S]*"cpuUsage"/);
    expect(stdout).to.include('"output": "hello\\n"');
    expect(stdout).to.include('"status": "CHALLENGE_STATUS_COMPLETED"');
    expect(stdout).to.match(/"containers": \[/);
    expect((await countResources(miner.prefix)).containers, 'Release removed the container').to.equal(0);
  });
});
