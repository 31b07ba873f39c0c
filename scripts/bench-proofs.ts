/**
 * What the portable proofs cost and how well they separate, on this host with
 * the probe run locally (docs/verification.md, "Measured figures"):
 *
 *   npx tsx scripts/bench-proofs.ts [--runs 5] [--rounds 20] [--cores 2] [--mem-mib 256] [--skip-memory]
 *
 * 1. Cost: per compute round (claimed --cores), prover CPU (the probe's own
 *    rusage for every commit and open) against the validator's verification
 *    CPU (process.cpuUsage() around parsing, paths and Freivalds), and the
 *    bytes the validator received per verified core. Memory likewise.
 * 2. Honest false positives: --rounds 1-core rounds while a background loop
 *    keeps one host core busy; a round with any finding is a false positive.
 * 3. Separation: the fastest all-workers commit of an honest 2-core prover
 *    against one claiming 2 cores on 1 (taskset -c 0), and their parallel
 *    efficiency; the fastest honest memory walk against keep-every-other's.
 * Figures are medians over runs, and ratios measured in the same run.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { runComputeChallenge, type ComputeResult } from '../validator/challenges/compute-challenge.js';
import { CORE_EFFICIENCY_MIN, formatRate } from '../validator/challenges/compute-rates.js';
import type { ChallengeExecutor } from '../validator/challenges/executor.js';
import { walkDeadlineMs, DEFAULT_MEMORY } from '../validator/challenges/memory.js';
import { runMemoryChallenge } from '../validator/challenges/memory-challenge.js';
import { buildProbe, localExecutor, probePath } from '../test/fixtures/probe-executors.js';
import { onInterrupt } from '../test/support/interrupt-cleanup.js';

const { values } = parseArgs({
  options: {
    cores: { type: 'string', default: '2' },
    runs: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '20' },
    'mem-mib': { type: 'string', default: '256' },
    'skip-memory': { type: 'boolean', default: false },
  },
});
const cores = Number(values.cores);
const runs = Number(values.runs);
const rounds = Number(values.rounds);
buildProbe();

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (x: number): string => `${(100 * x).toFixed(2)} %`;
const proofRuns = (r: ComputeResult) => r.runs.filter((x) => x.kind !== 'noop');
const compute = (claimedCores: number, exec: ChallengeExecutor = localExecutor, variant = 'probe') =>
  runComputeChallenge(exec, { probePath: probePath(variant), claimedCores });

console.log(`1. cost: compute rounds claiming ${cores} cores, ${runs} rounds`);
const ratios: number[] = [];
const ingress: number[] = [];
for (let i = 0; i < runs; i++) {
  const r = await compute(cores);
  const prover = proofRuns(r).reduce((t, x) => t + (x.proverCpuMs ?? NaN) + (x.openProverCpuMs ?? 0), 0);
  const verify = proofRuns(r).reduce((t, x) => t + x.verifyCpuMs, 0);
  const bytes = r.runs.reduce((t, x) => t + x.ingressBytes, 0);
  ratios.push(verify / prover);
  ingress.push(bytes / cores);
  console.log(`   ${proofRuns(r).length} proofs: prover ${prover.toFixed(0)} ms CPU, verify ${verify.toFixed(1)} ms CPU (${pct(verify / prover)}), ${(bytes / 1024).toFixed(0)} KiB received, ${formatRate(r.rates?.throughput ?? 0)}${r.findings.length ? ` ${r.findings.map((f) => f.code)}` : ''}`);
}
console.log(`   median: verify/prover ${pct(median(ratios))}, ${(median(ingress) / 1024).toFixed(0)} KiB per verified core per round (max ${(Math.max(...ingress) / 1024).toFixed(0)} KiB)`);

if (!values['skip-memory']) {
  const size = Number(values['mem-mib']) * 2 ** 20;
  const mratios: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await runMemoryChallenge(localExecutor, { probePath: probePath(), sizeBytes: size, openDeadlineMs: 600_000 });
    mratios.push(r.verifyCpuMs / (r.proverCpuMs ?? NaN));
  }
  console.log(`   memory ${values['mem-mib']} MiB: verify/prover median ${pct(median(mratios))} over ${runs} rounds`);
}

console.log(`2. honest false positives: ${rounds} rounds claiming 1 core, one host core kept busy`);
const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
const stopBusy = onInterrupt('busy loop', () => void busy.kill('SIGKILL'));
const rates: number[] = [];
let flagged = 0;
try {
  for (let i = 0; i < rounds; i++) {
    const r = await compute(1);
    rates.push(r.rates?.throughput ?? 0);
    if (r.findings.length) {
      flagged++;
      console.log(`   round ${i + 1}: ${r.findings.map((f) => `${f.code}: ${f.message}`).join('; ')}`);
    }
  }
} finally {
  await stopBusy();
}
const spread = (Math.max(...rates) - Math.min(...rates)) / median(rates);
console.log(`   ${flagged} of ${rounds} rounds with a finding; throughput median ${formatRate(median(rates))}, spread (max − min)/median ${pct(spread)}`);

console.log(`3. separation: ${runs} rounds each`);
const oneCore: ChallengeExecutor = (argv, opts) => localExecutor(['taskset', '-c', '0', ...argv], opts);
const honest: ComputeResult[] = [];
const cheat: ComputeResult[] = [];
for (let i = 0; i < runs; i++) {
  honest.push(await compute(2));
  cheat.push(await compute(2, oneCore));
}
const fastest = (rs: ComputeResult[]) => Math.min(...rs.map((r) => r.rates?.allNetMs ?? Infinity));
const effs = (rs: ComputeResult[]) => rs.map((r) => r.rates?.efficiency ?? NaN);
console.log(`   fastest all-workers commit (net): honest 2 cores ${fastest(honest).toFixed(0)} ms, 2 claimed on 1 core ${fastest(cheat).toFixed(0)} ms: ${(fastest(cheat) / fastest(honest)).toFixed(2)}×`);
console.log(`   efficiency: honest ${effs(honest).map((e) => e.toFixed(2)).join(' ')}; cheater ${effs(cheat).map((e) => e.toFixed(2)).join(' ')} (threshold ${CORE_EFFICIENCY_MIN})`);
console.log(`   "fewer-cores": honest ${honest.filter((r) => r.rates?.fewerCores).length}/${runs}, cheater ${cheat.filter((r) => r.rates?.fewerCores).length}/${runs}`);

if (!values['skip-memory']) {
  const deadline = walkDeadlineMs(DEFAULT_MEMORY, 0);
  const walks = async (variant: string) => {
    const r = await runMemoryChallenge(localExecutor, { probePath: probePath(variant), sizeBytes: 64 * 2 ** 20, openDeadlineMs: deadline });
    return Math.min(...r.openAttemptsMs);
  };
  const h: number[] = [];
  const c: number[] = [];
  for (let i = 0; i < runs; i++) {
    h.push(await walks('probe'));
    c.push(await walks('probe-cheat-mem-every-other'));
  }
  console.log(`   memory walk (64 MiB, ${DEFAULT_MEMORY.steps} steps, bound ${deadline.toFixed(0)} ms): honest min ${Math.min(...h).toFixed(0)} ms, keep-every-other min ${Math.min(...c).toFixed(0)} ms: ${(Math.min(...c) / Math.min(...h)).toFixed(1)}×`);
}
