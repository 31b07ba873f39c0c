/**
 * npx tsx scripts/bench-honest-rounds.ts [--rounds 10] [--cpus 1] [--busy]
 *
 * The same honest miner, validated --rounds times in a row on this host, as
 * `npm run validator` does it (real miner process, gRPC over mTLS, SSH,
 * probe over SFTP). Prints every round's proven throughput, compute and
 * memory components and the commits/walks each needed, then: the compute
 * spread (max − min) / median, and the honest rounds with any finding.
 * --busy keeps one host core busy
 * with a background loop meanwhile. Not a test: needs Docker, the base image
 * and the probe (scripts/setup.sh). Stops its loop, miner and containers on
 * SIGINT/SIGTERM too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { allFindings } from '../validator/round-types.js';
import { runValidationRound } from '../validator/validation-run.js';
import { benchValidator } from './bench-validator-setup.js';
import { removeResources } from '../test/support/docker.js';
import { startMiner, type MinerProcess } from '../test/support/miner-process.js';
import { onInterrupt } from '../test/support/interrupt-cleanup.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, cpus: { type: 'string', default: '1' }, busy: { type: 'boolean', default: false } } });
const ROUNDS = Number(values.rounds);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let miner: MinerProcess | undefined;
let busy: ChildProcess | undefined;
async function cleanup(): Promise<void> {
  busy?.kill('SIGKILL');
  if (miner) {
    await miner.stop();
    await removeResources(miner.prefix);
    miner = undefined;
  }
}
onInterrupt('busy loop, miner and its containers', cleanup);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'polarise-bench-honest-'));
  miner = await startMiner();
  const pki = miner.pki;
  const { config, settings, store, view } = await benchValidator(pki, dir, 'validator', {
    miners: [{ name: 'honest', address: miner.address }],
    cpu_count: Number(values.cpus),
    memory: '512m',
    challenge_memory: '256m',
  });
  if (values.busy) busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
  const compute: number[] = [];
  let failed = 0;
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const [result] = (await runValidationRound(config, settings, store, view)).results;
      const findings = allFindings(result!);
      const ch = result!.challenges;
      compute.push(result!.components.compute);
      if (findings.length || result!.error) failed++;
      console.log(
        `round ${r + 1}: ${String(ch[0]?.details.throughputGmas ?? '-')} GMA/s, compute ${result!.components.compute.toFixed(3)} (commits ${(ch[0]?.details.allRunsMs as number[] | undefined)?.join('+') ?? '-'} ms, no-op ${String(ch[0]?.details.overheadMs ?? '-')} ms) ` +
          `memory ${result!.components.memory.toFixed(3)} (walks ${(ch[1]?.details.walksMs as number[] | undefined)?.map(Math.round).join('+') ?? '-'} ms) ` +
          `score ${result!.roundScore.toFixed(3)}${findings.length ? ` findings: ${findings.map((f) => f.code).join(', ')}` : ''}`,
      );
    }
  } finally {
    store.close();
    view.stop();
  }
  const m = median(compute);
  console.log(
    `${ROUNDS} rounds, ${values.cpus} CPU${values.busy ? ', one host core busy' : ''}: compute median ${m.toFixed(3)}, ` +
      `spread (max − min) / median ${(((Math.max(...compute) - Math.min(...compute)) / m) * 100).toFixed(1)} %, honest rounds with a finding: ${failed} of ${ROUNDS}`,
  );
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
