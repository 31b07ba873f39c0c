/**
 * One validation round against one miner, as a renter would live it:
 * Allocate → SSH login and probe upload → compute (best of k commit/open
 * cycles) → memory (commit, best of k walks) → Release (always, whatever
 * failed). Every figure that counts is the validator's own: its seeds, its
 * clock, and published constants; never its own CPU's speed. A lie in the
 * samples zeroes the round.
 */
import { runComputeChallenge, type ComputeResult } from './challenges/compute-challenge.js';
import type { ChallengeExecutor, ExecSample } from './challenges/executor.js';
import { runMemoryChallenge, type MemoryResult } from './challenges/memory-challenge.js';
import { planMemory, walkDeadlineMs } from './challenges/memory.js';
import { finding, findingsOf, isLie, type Finding } from './findings.js';
import { MinerClient, type ClientTlsFiles, type MinerAddress } from './miner-client.js';
import { PROBE_PATH, checkRental, type RentalCheckResult } from './rental-check.js';
import type { AllocateResponse } from '../common/gen/polarise/v1/miner.js';
import type { ChallengeRecord, ComponentScores, ComponentWeights, MinerRoundResult, Phase, RoundCapacity, SampleRecord } from './round-types.js';
import { allFindings } from './round-types.js';
import { checksComponent, roundScore, zeroComponents } from './scoring/scoring.js';
import { errorMessage } from '../common/errors.js';

export interface RoundSettings {
  tls: ClientTlsFiles;
  /** The probe binary on the validator's host, uploaded over SFTP. */
  probeBinary: string;
  cpuCount: number;
  memory: string;
  memoryBytes: number;
  challengeMemoryBytes: number;
  weights: ComponentWeights;
  leaseSeconds?: number;
  /** Timed runs per challenge at most (best of k); the defaults of the challenge modules otherwise. */
  attempts?: number;
}

export interface RoundObserver {
  phase?(miner: string, phase: Phase, detail?: string): void;
  sample?(miner: string, sample: SampleRecord): void;
}

/** The live state of one round: where it is, and the samples of the challenge running. */
class RoundProgress {
  phase: Phase = 'allocate';
  private samples: SampleRecord[] = [];

  constructor(
    private readonly miner: string,
    private readonly observer: RoundObserver,
    private readonly signal?: AbortSignal,
  ) {}

  enter(next: Phase, detail?: string): void {
    if (this.signal?.aborted) throw new Error('the round was cancelled');
    this.phase = next;
    this.observer.phase?.(this.miner, next, detail);
  }

  readonly onSample = (s: ExecSample): void => {
    const sample: SampleRecord = { phase: this.phase, ...s };
    this.samples.push(sample);
    this.observer.sample?.(this.miner, sample);
  };

  /** Follows each call's step into the phase the live view shows. */
  follow(exec: ChallengeExecutor): ChallengeExecutor {
    return (argv, opts) => {
      const next: Phase = `${opts.type}-${opts.step}`;
      if (next !== this.phase) this.enter(next);
      return exec(argv, opts);
    };
  }

  takeSamples(): SampleRecord[] {
    const taken = this.samples;
    this.samples = [];
    return taken;
  }
}

function computeRecord(c: ComputeResult, samples: SampleRecord[]): ChallengeRecord {
  const r = c.rates;
  const gmas = (x: number): number => Math.round(x / 1e7) / 100;
  const proofs = c.runs.filter((x) => x.kind !== 'noop');
  return {
    kind: 'compute',
    step: 'commit',
    passed: c.passed,
    elapsedMs: r?.allMs ?? 0,
    findings: [...c.findings, ...c.metrics.findings],
    details: {
      n: c.plan.n,
      factors: c.plan.factors,
      workers: c.plan.workers,
      ...(r && {
        throughputGmas: gmas(r.throughput),
        perCoreGmas: gmas(r.perCoreRate),
        coreEquivalents: Math.round(r.coreEquivalents * 100) / 100,
        efficiency: r.efficiency === undefined ? undefined : Math.round(r.efficiency * 1000) / 1000,
        overheadMs: Math.round(r.overheadMs),
      }),
      allRunsMs: c.runs.filter((x) => x.kind === 'all').map((x) => Math.round(x.commitMs)),
      singleRunsMs: c.runs.filter((x) => x.kind === 'single').map((x) => Math.round(x.commitMs)),
      noopRunsMs: c.runs.filter((x) => x.kind === 'noop').map((x) => Math.round(x.commitMs)),
      verifyCpuMs: Math.round(proofs.reduce((t, x) => t + x.verifyCpuMs, 0)),
      ingressBytes: proofs.reduce((t, x) => t + x.ingressBytes, 0),
      component: c.component,
    },
    samples,
  };
}

function memoryRecord(m: MemoryResult, samples: SampleRecord[]): ChallengeRecord {
  return {
    kind: 'memory',
    step: 'commit',
    passed: m.passed,
    elapsedMs: m.commitMs + m.openMs,
    deadlineMs: m.openDeadlineMs,
    findings: [...m.findings, ...m.metrics.findings],
    details: {
      sizeBytes: m.plan.sizeBytes,
      commitMs: m.commitMs,
      openMs: m.openMs,
      walksMs: m.openAttemptsMs,
      segmentsChecked: m.segmentsChecked,
      blocksChecked: m.blocksChecked,
      component: m.component,
    },
    samples,
  };
}

function proveCompute(exec: ChallengeExecutor, s: RoundSettings): Promise<ComputeResult> {
  return runComputeChallenge(exec, { probePath: PROBE_PATH, claimedCores: s.cpuCount, memoryLimitBytes: s.memoryBytes, attempts: s.attempts });
}

/** The walk deadline is the published step bound plus the no-op overhead the compute challenge measured in this container. */
function proveMemory(exec: ChallengeExecutor, s: RoundSettings, overheadMs: number): Promise<MemoryResult> {
  return runMemoryChallenge(exec, {
    probePath: PROBE_PATH,
    sizeBytes: s.challengeMemoryBytes,
    openDeadlineMs: walkDeadlineMs(planMemory(s.challengeMemoryBytes), overheadMs),
    claimedCores: s.cpuCount,
    memoryLimitBytes: s.memoryBytes,
    attempts: s.attempts,
  });
}

/** A lie anywhere in the round (samples that cannot be true) scores the whole round 0 and proves nothing. */
function withLies(result: MinerRoundResult): MinerRoundResult {
  if (!allFindings(result).some(isLie)) return result;
  const capacity = result.capacity && { ...result.capacity, provenCores: 0, provenMemoryBytes: 0 };
  return { ...result, lie: true, roundScore: 0, capacity };
}

/**
 * What to rent: validator.cpu_count CPUs, or with cpu_count 0 every CPU the
 * miner says is free (up to its per-allocation maximum): a full-capacity
 * round. Claiming more than it has only makes the Allocate fail.
 */
async function rentalPlan(client: MinerClient, settings: RoundSettings): Promise<RoundCapacity> {
  const offer = await client.getCapacity();
  const free = offer ? Math.floor(Math.min(offer.freeCpus, offer.maxCpusPerAllocation)) : 1;
  return {
    offeredCpus: offer?.totalCpus ?? 0,
    freeCpus: offer?.freeCpus ?? 0,
    offeredMemoryBytes: offer?.totalMemoryBytes ?? 0,
    freeMemoryBytes: offer?.freeMemoryBytes ?? 0,
    rentedCpus: settings.cpuCount > 0 ? settings.cpuCount : Math.max(1, free),
  };
}

/** The renter's path: SSH login against the announced host key, a nonce echo, the probe uploaded over SFTP. */
function rent(allocation: AllocateResponse, settings: RoundSettings, progress: RoundProgress): Promise<RentalCheckResult> {
  progress.enter('ssh', `${allocation.host}:${allocation.sshPort}`);
  return checkRental(
    {
      host: allocation.host,
      port: allocation.sshPort,
      username: allocation.username,
      password: allocation.password,
      hostKeyFingerprint: allocation.sshHostKeyFingerprint,
    },
    settings.probeBinary,
    { onUpload: () => progress.enter('upload') },
  );
}

const errorText = (err: unknown): string => (err as { details?: string }).details ?? (errorMessage(err));

export async function runMinerRound(target: MinerAddress, settings: RoundSettings, observer: RoundObserver = {}, signal?: AbortSignal): Promise<MinerRoundResult> {
  const startedAt = new Date();
  const findings: Finding[] = [];
  const challenges: ChallengeRecord[] = [];
  const components: ComponentScores = zeroComponents();
  const client = new MinerClient(target, settings.tls);
  const progress = new RoundProgress(target.name, observer, signal);
  let containerId: string | undefined;
  let error: string | undefined;
  let capacity: RoundCapacity | undefined;
  try {
    progress.enter('allocate');
    capacity = await rentalPlan(client, settings);
    const rented = { ...settings, cpuCount: capacity.rentedCpus };
    const allocation = await client.allocate({ cpuCount: rented.cpuCount, memory: settings.memory, leaseSeconds: settings.leaseSeconds ?? 900 });
    containerId = allocation.containerId;

    const rental = await rent(allocation, settings, progress);
    findings.push(...findingsOf('rental-failed', rental.findings));
    components.rental = rental.ok ? 1 : 0;
    if (!rental.ok) throw new Error('the rental probe failed: no challenge can run without a working login');

    const exec = progress.follow(client.executor(containerId, progress.onSample));
    const compute = await proveCompute(exec, rented);
    challenges.push(computeRecord(compute, progress.takeSamples()));
    components.compute = compute.component;
    capacity.provenCores = compute.proofValid ? (compute.rates?.coreEquivalents ?? 0) : 0;

    const memory = await proveMemory(exec, rented, compute.rates?.overheadMs ?? 0);
    challenges.push(memoryRecord(memory, progress.takeSamples()));
    components.memory = memory.component;
    capacity.provenMemoryBytes = memory.proofValid ? memory.plan.sizeBytes : 0;
    components.metrics = checksComponent([compute.metrics.status === 'ok', memory.metrics.status === 'ok']);
  } catch (err) {
    error = `${progress.phase}: ${errorText(err)}`;
    if (!findings.some((f) => f.code === 'rental-failed')) findings.push(finding('round-error', error));
  } finally {
    if (containerId) {
      observer.phase?.(target.name, 'release');
      await client.release(containerId).catch((err: unknown) => findings.push(finding('release-failed', errorText(err))));
    }
    client.close();
  }
  const result = withLies({
    miner: target.name,
    address: target.address,
    startedAt,
    finishedAt: new Date(),
    claimed: { cpuCount: capacity?.rentedCpus ?? settings.cpuCount, memoryBytes: settings.memoryBytes },
    components,
    roundScore: roundScore(components, settings.weights),
    findings,
    challenges,
    error,
    capacity,
  });
  observer.phase?.(target.name, error ? 'failed' : 'done', error ?? (result.lie ? 'lie: the samples cannot be true' : undefined));
  return result;
}
