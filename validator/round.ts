/**
 * One validation round against one miner, as a renter would live it:
 * Allocate → SSH login and probe upload → compute commit/open → memory
 * commit/open → Release (always, whatever failed). Every figure that counts
 * is the validator's own: its seeds, its clock, its calibration.
 */
import type { Calibration, DeadlinePolicy } from './challenges/calibration.js';
import { computeDeadlineMs, expectedComputeCpuSeconds, memoryOpenDeadlineMs } from './challenges/calibration.js';
import { planCompute, runComputeChallenge, type ComputeResult } from './challenges/compute.js';
import { planMemory, runMemoryChallenge, type MemoryResult } from './challenges/memory.js';
import type { ExecSample } from './challenges/executor.js';
import { MinerClient, type ClientTlsFiles, type MinerAddress } from './miner-client.js';
import { PROBE_PATH, probeRental } from './rental-probe.js';
import type { ChallengeRecord, ComponentScores, ComponentWeights, MinerRoundResult, Phase, SampleRecord } from './round-types.js';
import { checksComponent, proofComponent, roundScore, zeroComponents } from './scoring.js';

export interface RoundSettings {
  tls: ClientTlsFiles;
  /** The probe binary on the validator's host, uploaded over SFTP. */
  probeBinary: string;
  calibration: Calibration;
  deadlines: DeadlinePolicy;
  cpuCount: number;
  memory: string;
  memoryBytes: number;
  challengeMemoryBytes: number;
  weights: ComponentWeights;
  leaseSeconds?: number;
}

export interface RoundObserver {
  phase?(miner: string, phase: Phase, detail?: string): void;
  sample?(miner: string, sample: SampleRecord): void;
}

function record(kind: 'compute' | 'memory', step: 'commit' | 'open', passed: boolean, elapsedMs: number, samples: SampleRecord[], extra: Partial<ChallengeRecord> = {}): ChallengeRecord {
  return { kind, step, passed, elapsedMs, findings: [], details: {}, samples, ...extra };
}

export async function runMinerRound(
  target: MinerAddress,
  settings: RoundSettings,
  observer: RoundObserver = {},
  signal?: AbortSignal,
): Promise<MinerRoundResult> {
  const startedAt = new Date();
  const findings: string[] = [];
  const challenges: ChallengeRecord[] = [];
  const components: ComponentScores = zeroComponents();
  const client = new MinerClient(target, settings.tls);
  let phase: Phase = 'allocate';
  const enter = (next: Phase, detail?: string) => {
    if (signal?.aborted) throw new Error('the round was cancelled');
    phase = next;
    observer.phase?.(target.name, next, detail);
  };
  // Samples of the current phase, as streamed (evidence to cross-check).
  let phaseSamples: SampleRecord[] = [];
  const onSample = (s: ExecSample) => {
    const sample: SampleRecord = { phase, ...s };
    phaseSamples.push(sample);
    observer.sample?.(target.name, sample);
  };
  const takeSamples = () => {
    const taken = phaseSamples;
    phaseSamples = [];
    return taken;
  };

  let containerId: string | undefined;
  let error: string | undefined;
  try {
    enter('allocate');
    const allocation = await client.allocate({
      cpuCount: settings.cpuCount,
      memory: settings.memory,
      leaseSeconds: settings.leaseSeconds ?? 900,
    });
    containerId = allocation.containerId;

    enter('ssh', `${allocation.host}:${allocation.sshPort}`);
    const rental = await probeRental(
      {
        host: allocation.host,
        port: allocation.sshPort,
        username: allocation.username,
        password: allocation.password,
        hostKeyFingerprint: allocation.sshHostKeyFingerprint,
      },
      settings.probeBinary,
      { onUpload: () => enter('upload') },
    );
    findings.push(...rental.findings);
    components.rental = rental.ok ? 1 : 0;
    if (!rental.ok) throw new Error('the rental probe failed: no challenge can run without a working login');

    const exec = client.executor(containerId, onSample);
    const cal = settings.calibration;

    enter('compute-commit');
    const computePlan = planCompute(settings.cpuCount);
    const deadlineMs = computeDeadlineMs(cal, computePlan, settings.deadlines);
    const compute: ComputeResult = await runComputeChallenge(
      async (argv, opts) => {
        const outcome = await exec(argv, opts);
        if (phase === 'compute-commit') enter('compute-open');
        return outcome;
      },
      {
        probePath: PROBE_PATH,
        claimedCores: settings.cpuCount,
        deadlineMs,
        expectedCpuSeconds: expectedComputeCpuSeconds(cal, computePlan),
      },
    );
    findings.push(...compute.findings, ...compute.metrics.findings);
    const computeSamples = takeSamples();
    challenges.push(
      record('compute', 'commit', compute.passed, compute.commitMs, computeSamples, {
        deadlineMs: compute.deadlineMs,
        findings: [...compute.findings, ...compute.metrics.findings],
        details: { n: compute.plan.n, workers: compute.plan.workers, openMs: compute.openMs, verifyCpuMs: compute.verifyCpuMs },
      }),
    );
    // Verified rate against the calibrated rate for the claimed cores.
    const calibratedMs = cal.computeCpuMs * (compute.plan.n / cal.n) ** 3 + settings.deadlines.computeOverheadMs;
    components.compute = proofComponent(compute.passed, 1 / compute.commitMs, 1 / calibratedMs);

    enter('memory-commit');
    const memoryPlan = planMemory(settings.challengeMemoryBytes);
    const memory: MemoryResult = await runMemoryChallenge(
      async (argv, opts) => {
        const outcome = await exec(argv, opts);
        if (phase === 'memory-commit') enter('memory-open');
        return outcome;
      },
      {
        probePath: PROBE_PATH,
        sizeBytes: settings.challengeMemoryBytes,
        openDeadlineMs: memoryOpenDeadlineMs(cal, memoryPlan, settings.deadlines),
      },
    );
    findings.push(...memory.findings, ...memory.metrics.findings);
    challenges.push(
      record('memory', 'commit', memory.passed, memory.commitMs + memory.openMs, takeSamples(), {
        deadlineMs: memory.openDeadlineMs,
        findings: [...memory.findings, ...memory.metrics.findings],
        details: { sizeBytes: memory.plan.sizeBytes, openMs: memory.openMs, segmentsChecked: memory.segmentsChecked, blocksChecked: memory.blocksChecked },
      }),
    );
    components.memory = proofComponent(memory.passed, settings.challengeMemoryBytes, settings.challengeMemoryBytes);
    components.metrics = checksComponent([compute.metrics.status === 'ok', memory.metrics.status === 'ok']);
  } catch (err) {
    error = `${phase}: ${(err as { details?: string }).details ?? (err as Error).message}`;
    findings.push(error);
  } finally {
    if (containerId) {
      observer.phase?.(target.name, 'release');
      await client.release(containerId).catch((err: Error) => findings.push(`release: ${err.message}`));
    }
    client.close();
  }
  observer.phase?.(target.name, error ? 'failed' : 'done', error);
  return {
    miner: target.name,
    address: target.address,
    startedAt,
    finishedAt: new Date(),
    claimed: { cpuCount: settings.cpuCount, memoryBytes: settings.memoryBytes },
    components,
    roundScore: roundScore(components, settings.weights),
    findings,
    challenges,
    error,
  };
}

