/**
 * Prover CPU time vs validator verification CPU time, for the compute and
 * memory challenges at default sizes, on this host (local executor).
 *
 *   npx tsx scripts/bench-proofs.ts [--cores 2] [--mem-mib 256] [--runs 3] [--variant probe]
 *
 * Prover CPU: the probe's own getrusage (user+sys) summed over its phases.
 * Validator CPU: process.cpuUsage() around parsing and verification only.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runComputeChallenge } from '../validator/challenges/compute.js';
import { localExecutor } from '../validator/challenges/local-executor.js';
import { runMemoryChallenge } from '../validator/challenges/memory.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    cores: { type: 'string', default: '2' },
    'mem-mib': { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    variant: { type: 'string', default: 'probe' },
    n: { type: 'string', default: '2048' },
  },
});
execFileSync('bash', [join(root, 'scripts/build-probe.sh')], { stdio: 'inherit' });
const probePath = join(root, 'validator/probe/build', values.variant!);
const runs = Number(values.runs);
const cores = Number(values.cores);
const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(2)} %`;

console.log(`compute: n=${values.n}, workers=${cores}, ${runs} runs`);
for (let i = 0; i < runs; i++) {
  const r = await runComputeChallenge(localExecutor, {
    probePath, claimedCores: cores, deadlineMs: 600_000, expectedCpuSeconds: 0, params: { n: Number(values.n) },
  });
  const prover = r.proverCpuMs ?? NaN;
  console.log(
    `  passed=${r.passed} commit=${r.commitMs.toFixed(0)} ms open=${r.openMs.toFixed(0)} ms ` +
      `prover_cpu=${prover.toFixed(0)} ms verify_cpu=${r.verifyCpuMs.toFixed(1)} ms ratio=${pct(r.verifyCpuMs, prover)}`,
  );
}

const size = Number(values['mem-mib']) * 2 ** 20;
console.log(`memory: ${values['mem-mib']} MiB, default walk, ${runs} runs`);
for (let i = 0; i < runs; i++) {
  const r = await runMemoryChallenge(localExecutor, { probePath, sizeBytes: size, openDeadlineMs: 600_000 });
  const prover = r.proverCpuMs ?? NaN;
  console.log(
    `  passed=${r.passed} commit=${r.commitMs.toFixed(0)} ms open=${r.openMs.toFixed(0)} ms prove=${r.proveMs.toFixed(0)} ms ` +
      `prover_cpu=${prover.toFixed(0)} ms verify_cpu=${r.verifyCpuMs.toFixed(1)} ms ratio=${pct(r.verifyCpuMs, prover)}`,
  );
  if (!r.passed) console.log('   ', r.findings.join('\n    '));
}
