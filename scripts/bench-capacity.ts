/**
 * npx tsx scripts/bench-capacity.ts [--rounds 3] [--memory 2g]
 *
 * A full-capacity round against a light one, through one real miner that
 * offers every core of this host and `--memory` of memory
 * (docker.host_reserve_memory): rounds interleaved light, full, light, full…
 * Prints each kind's median wall time, their ratio, what the full round
 * rented and proved, and its memory fill time.
 * Not a test: needs Docker, the base image and the probe (scripts/setup.sh).
 */
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseMemory, formatBytes } from '../common/units.js';
import { runMinerRound, type RoundContext } from '../validator/miner-round.js';
import type { MinerRoundResult } from '../validator/round-types.js';
import { benchValidator } from './bench-validator-setup.js';
import { removeResources } from '../test/support/docker.js';
import { startMiner, type MinerProcess } from '../test/support/miner-process.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, memory: { type: 'string', default: '2g' } } });
const ROUNDS = Number(values.rounds);
const OFFER = parseMemory(values.memory!, '--memory');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function describe(r: MinerRoundResult): string {
  const c = r.capacity;
  const compute = r.challenges.find((ch) => ch.kind === 'compute');
  const memory = r.challenges.find((ch) => ch.kind === 'memory');
  return (
    `rented ${c?.rentedCpus} CPU ${formatBytes(c?.rentedMemoryBytes ?? 0)}, proved ${Number(compute?.details.coreEquivalents ?? 0).toFixed(2)} cores ` +
    `${formatBytes(Number(memory?.details.sizeBytes ?? 0))}, fill+hash ${seconds(Number(memory?.details.commitMs ?? 0))}, walks ${JSON.stringify(memory?.details.walksMs ?? [])} ms (deadline ${Math.round(memory?.deadlineMs ?? 0)} ms), score ${r.roundScore.toFixed(2)}` +
    (r.error ? `, error: ${r.error}` : '')
  );
}

/** Wall time spent in each phase the round reports (allocate, ssh, upload, compute-commit, …). */
class PhaseClock {
  private readonly spent = new Map<string, number>();
  private phase = 'start';
  private since = performance.now();
  enter(next: string): void {
    const now = performance.now();
    this.spent.set(this.phase, (this.spent.get(this.phase) ?? 0) + now - this.since);
    [this.phase, this.since] = [next, now];
  }
  summary(): string {
    return [...this.spent].map(([p, ms]) => `${p} ${seconds(ms)}`).join(', ');
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'polarise-bench-capacity-'));
  let miner: MinerProcess | undefined;
  try {
    miner = await startMiner({ config: { docker: { host_reserve_cpus: 0, host_reserve_memory: `${Math.floor((totalmem() - OFFER) / 2 ** 20)}m` } } });
    const { settings } = await benchValidator(miner.pki, dir, 'capacity', { challenge_memory: '256m', memory: '512m' });
    const target = { name: 'bench', address: miner.address };
    const times: Record<RoundContext['kind'], number[]> = { light: [], full: [] };
    const last = { cores: 0, memoryBytes: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      for (const kind of ['light', 'full'] as const) {
        const started = performance.now();
        const phases = new PhaseClock();
        const r = await runMinerRound(target, settings, { phase: (_m, p) => phases.enter(p) }, undefined, { kind, last, earlier: last });
        times[kind].push(performance.now() - started);
        process.stderr.write(`${kind} round ${i + 1}: ${seconds(times[kind].at(-1)!)}; ${describe(r)}\n  phases: ${phases.summary()}\n`);
      }
    }
    console.log(`host cores: ${cpus().length}; miner offers ${cpus().length} CPU ${formatBytes(OFFER)}`);
    console.log(`light round (1 CPU, 256 MiB proved): ${seconds(median(times.light))} median of ${ROUNDS}`);
    console.log(`full-capacity round: ${seconds(median(times.full))} median of ${ROUNDS}`);
    console.log(`full / light: ${(median(times.full) / median(times.light)).toFixed(2)}`);
  } finally {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
