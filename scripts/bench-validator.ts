/**
 * npx tsx scripts/bench-validator.ts [--miners 8] [--rounds 3] [--full]
 *
 * Validator round wall time for one miner, then for N miners challenged
 * concurrently (N real miner processes on this machine, each with its own
 * containers), and the validator's own CPU time per miner per round
 * (process.cpuUsage of this process, which runs the validator). Prints
 * medians and the N-miner / 1-miner ratio.
 *
 * On one host the miners share its cores: N containers each proving one core
 * need N cores, so past the core count the round stretches with N / cores.
 * The figure that scales with the validator itself is its CPU per miner.
 * Also prints the largest RunChallengeResponse the miners sent in a full
 * round, as received off the wire (at most 1 MiB by design: output travels
 * in OutputChunk events, common/message-limits.ts). --full makes every
 * round a full-capacity round (every free CPU, memory up to 1 GiB).
 * Not a test: needs Docker, the base image and the probe (scripts/setup.sh).
 */
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runValidationRound } from '../validator/validation-run.js';
import { observeChallengeMessages } from '../validator/miner-client.js';
import { MAX_MESSAGE_BYTES } from '../common/message-limits.js';
import { benchValidator } from './bench-validator-setup.js';
import { removeResources } from '../test/support/docker.js';
import { startMiner, type MinerProcess } from '../test/support/miner-process.js';

const { values } = parseArgs({
  options: { miners: { type: 'string', default: '8' }, rounds: { type: 'string', default: '3' }, full: { type: 'boolean', default: false } },
});
const CAPACITY = values.full ? { capacity: { enabled: true, window_seconds: 0, max_memory: '1g' } } : {};
const N = Number(values.miners);
const ROUNDS = Number(values.rounds);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Every RunChallengeResponse the validator receives, by encoded size. */
const messages = { count: 0, bytes: 0, largest: 0 };
observeChallengeMessages((bytes) => {
  messages.count++;
  messages.bytes += bytes;
  messages.largest = Math.max(messages.largest, bytes);
});

async function measure(miners: MinerProcess[], dir: string, label: string): Promise<{ wallMs: number; cpuMsPerMiner: number; scores: number[] }> {
  const pki = miners[0]!.pki;
  const { config, settings, store, view } = await benchValidator(pki, dir, label, {
    miners: miners.map((m, i) => ({ name: `miner-${i}`, address: m.address })),
    concurrency: miners.length,
    memory: '320m',
    ...CAPACITY,
    challenge_memory: '128m',
  });
  const walls: number[] = [];
  const cpu: number[] = [];
  let scores: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = process.cpuUsage();
    const started = performance.now();
    const outcome = await runValidationRound(config, settings, store, view);
    walls.push(performance.now() - started);
    const used = process.cpuUsage(before);
    cpu.push((used.user + used.system) / 1000 / miners.length);
    scores = outcome.results.map((x) => x.roundScore);
  }
  store.close();
  view.stop();
  return { wallMs: median(walls), cpuMsPerMiner: median(cpu), scores };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'polarise-bench-validator-'));
  const miners: MinerProcess[] = [];
  try {
    for (let i = 0; i < N; i++) miners.push(await startMiner());
    process.stderr.write(`started ${N} miners; ${ROUNDS} rounds each for 1 and ${N} miners\n`);
    const one = await measure(miners.slice(0, 1), dir, 'one');
    const many = await measure(miners, dir, 'many');
    const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(`host cores: ${cpus().length}`);
    console.log(`1 miner:  round ${fmt(one.wallMs)} (median of ${ROUNDS}), validator CPU ${one.cpuMsPerMiner.toFixed(0)} ms per miner, score ${one.scores.map((s) => s.toFixed(2)).join(' ')}`);
    console.log(`${N} miners: round ${fmt(many.wallMs)} (median of ${ROUNDS}), validator CPU ${many.cpuMsPerMiner.toFixed(0)} ms per miner, scores ${many.scores.map((s) => s.toFixed(2)).join(' ')}`);
    console.log(
      `largest message a miner sent: ${messages.largest} bytes (${((messages.largest / MAX_MESSAGE_BYTES) * 100).toFixed(1)} % of the 1 MiB limit; ` +
        `${messages.count} RunChallenge messages, ${(messages.bytes / 1e6).toFixed(1)} MB in all rounds)`,
    );
    console.log(`ratio ${N} miners / 1 miner: ${(many.wallMs / one.wallMs).toFixed(2)}x wall (ideal on ${cpus().length} cores: ${Math.max(1, N / cpus().length).toFixed(1)}x or more)`);
  } finally {
    for (const m of miners) {
      await m.stop();
      await removeResources(m.prefix);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
