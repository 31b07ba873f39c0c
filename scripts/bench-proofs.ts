/**
 * Prover CPU time vs validator verification CPU time, for the compute and
 * memory challenges at default sizes, on this host (local executor).
 *
 *   npx tsx scripts/bench-proofs.ts [--cores 2] [--runs 5] [--n 1856] [--factors 3] [--mem-mib 256] [--skip-memory]
 *
 * Prover CPU: the probe's own getrusage (user+sys) summed over its phases
 * (compute: commit + open).
 * Validator CPU: process.cpuUsage() around the verification of the open
 * phase only: parsing the output, base64 decoding, the Merkle root of the
 * rows, generating the matrices and the Freivalds mat-vecs.
 * Each line is one run; the summary is the median over the runs.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_COMPUTE } from '../validator/challenges/compute.js';
import { runComputeChallenge } from '../validator/challenges/compute-challenge.js';
import { localExecutor } from '../validator/challenges/local-executor.js';
import { runMemoryChallenge } from '../validator/challenges/memory-challenge.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    cores: { type: 'string', default: '2' },
    'mem-mib': { type: 'string', default: '256' },
    runs: { type: 'string', default: '5' },
    variant: { type: 'string', default: 'probe' },
    n: { type: 'string', default: String(DEFAULT_COMPUTE.n) },
    factors: { type: 'string', default: String(DEFAULT_COMPUTE.factors) },
    'skip-memory': { type: 'boolean', default: false },
  },
});
execFileSync('bash', [join(root, 'scripts/build-probe.sh')], { stdio: 'inherit' });
const probePath = join(root, 'validator/probe/build', values.variant!);
const runs = Number(values.runs);
const cores = Number(values.cores);
const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(2)} %`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const n = Number(values.n);
const factors = Number(values.factors);
console.log(`compute: n=${n}, factors=${factors} (${factors - 1} products), workers=${cores}, ${runs} runs`);
const ratios: number[] = [];
const provers: number[] = [];
const verifies: number[] = [];
for (let i = 0; i < runs; i++) {
  const r = await runComputeChallenge(localExecutor, {
    probePath, claimedCores: cores, deadlineMs: 600_000, fullMarksMs: 600_000, expectedCpuSeconds: 0, params: { n, factors },
  });
  const prover = (r.proverCpuMs ?? NaN) + (r.openProverCpuMs ?? 0);
  ratios.push(r.verifyCpuMs / prover);
  provers.push(prover);
  verifies.push(r.verifyCpuMs);
  console.log(
    `  passed=${r.passed} commit=${r.commitMs.toFixed(0)} ms open=${r.openMs.toFixed(0)} ms ` +
      `prover_cpu=${prover.toFixed(0)} ms verify_cpu=${r.verifyCpuMs.toFixed(1)} ms ratio=${pct(r.verifyCpuMs, prover)}`,
  );
  if (!r.passed) console.log('   ', r.findings.map((f) => f.message).join('\n    '));
}
console.log(
  `  median: prover_cpu=${median(provers).toFixed(0)} ms verify_cpu=${median(verifies).toFixed(1)} ms ` +
    `ratio=${(100 * median(ratios)).toFixed(2)} % (per worker: ${(median(verifies) / cores).toFixed(1)} ms of ${(median(provers) / cores).toFixed(0)} ms)`,
);

if (!values['skip-memory']) {
  const size = Number(values['mem-mib']) * 2 ** 20;
  console.log(`memory: ${values['mem-mib']} MiB, default walk, ${runs} runs`);
  const mratios: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await runMemoryChallenge(localExecutor, { probePath, sizeBytes: size, openDeadlineMs: 600_000 });
    const prover = r.proverCpuMs ?? NaN;
    mratios.push(r.verifyCpuMs / prover);
    console.log(
      `  passed=${r.passed} commit=${r.commitMs.toFixed(0)} ms open=${r.openMs.toFixed(0)} ms prove=${r.proveMs.toFixed(0)} ms ` +
        `prover_cpu=${prover.toFixed(0)} ms verify_cpu=${r.verifyCpuMs.toFixed(1)} ms ratio=${pct(r.verifyCpuMs, prover)}`,
    );
    if (!r.passed) console.log('   ', r.findings.map((f) => f.message).join('\n    '));
  }
  console.log(`  median ratio=${(100 * median(mratios)).toFixed(2)} %`);
}
