/** layerUsages counts allocated blocks and entries (real du on a temporary directory). */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layerUsages, MIN_ENTRY_BYTES } from '../../miner/containers/layer-usage.js';

describe('layer usage (du)', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'polarise-du-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('counts reserved blocks, not apparent sizes, and charges each entry at least one block', async () => {
    const [sparse, reserved, files, gone] = ['sparse', 'reserved', 'files', 'gone'].map((n) => join(dir, n)) as [string, string, string, string];
    for (const d of [sparse, reserved, files]) mkdirSync(d);
    execFileSync('truncate', ['-s', '1G', join(sparse, 'f')]);
    writeFileSync(join(reserved, 'f'), '');
    execFileSync('fallocate', ['-n', '-l', '8M', join(reserved, 'f')]);
    for (let i = 0; i < 300; i++) writeFileSync(join(files, `e${i}`), '');
    const usage = await layerUsages([sparse, reserved, files, gone]);
    expect(usage.get(sparse)!.bytes).to.be.below(64 * 1024); // 1 GiB apparent, nothing allocated
    expect(usage.get(reserved)!.bytes).to.be.at.least(8 * 2 ** 20); // size 0, 8 MiB allocated
    expect(usage.get(files)!.entries).to.equal(301);
    expect(usage.get(files)!.bytes).to.equal(301 * MIN_ENTRY_BYTES);
    expect(usage.has(gone)).to.equal(false);
  });
});
