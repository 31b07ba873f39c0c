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
import { planRental, type CapacitySettings, type Held, type Rental, type RoundKind } from './capacity-plan.js';
import type { Proven } from './scoring/capacity-credit.js';
import { NOTHING, provedNothing, settleCapacity } from './scoring/capacity-standing.js';
import type { GetCapacityResponse } from '../common/gen/polarise/v1/miner.js';

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
  capacity: CapacitySettings;
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
  return { ...result, lie: true, roundScore: 0, capacity: result.capacity && provedNothing(result.capacity) };
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

/** How this round is to run: full-capacity or light, the miner's standing (for renter-held credit) and the best of its recent full rounds. */
export interface RoundContext {
  kind: RoundKind;
  last: Proven;
  earlier: Proven;
}

const LIGHT_ROUND: RoundContext = { kind: 'light', last: NOTHING, earlier: NOTHING };

function capacityOf(offer: GetCapacityResponse | undefined, rental: Rental | Held): RoundCapacity {
  return {
    kind: rental.kind,
    offeredCpus: offer?.totalCpus ?? 0,
    freeCpus: offer?.freeCpus ?? 0,
    offeredMemoryBytes: offer?.totalMemoryBytes ?? 0,
    freeMemoryBytes: offer?.freeMemoryBytes ?? 0,
    rentedCpus: rental.kind === 'held' ? 0 : rental.cpuCount,
    rentedMemoryBytes: rental.kind === 'held' ? 0 : rental.memoryBytes,
  };
}

/** A round that found nothing free: it fails nothing and credits the last proven capacity. */
function heldRound(target: MinerAddress, startedAt: Date, capacity: RoundCapacity, reason: string, context: RoundContext): MinerRoundResult {
  return {
    miner: target.name,
    address: target.address,
    startedAt,
    finishedAt: new Date(),
    claimed: { cpuCount: 0, memoryBytes: 0 },
    components: zeroComponents(),
    roundScore: 0,
    findings: [],
    challenges: [],
    capacity: settleCapacity(capacity, NOTHING, true, context.last, context.earlier),
    unscored: `renters hold the capacity (${reason}): not scored; credited at the last proven value`,
  };
}

const mib = (bytes: number): string => `${Math.floor(bytes / 2 ** 20)}m`;

/** What a round gathers as it goes: kept whatever fails midway. */
interface RoundWork {
  findings: Finding[];
  challenges: ChallengeRecord[];
  components: ComponentScores;
  proven: Proven;
  valid: boolean;
}

/** SSH login and probe upload, then the compute and memory proofs in the rented container. */
async function proveContainer(client: MinerClient, allocation: AllocateResponse, rented: RoundSettings, progress: RoundProgress, work: RoundWork): Promise<void> {
  const rental = await rent(allocation, rented, progress);
  work.findings.push(...findingsOf('rental-failed', rental.findings));
  work.components.rental = rental.ok ? 1 : 0;
  if (!rental.ok) throw new Error('the rental probe failed: no challenge can run without a working login');

  const exec = progress.follow(client.executor(allocation.containerId, progress.onSample));
  const compute = await proveCompute(exec, rented);
  work.challenges.push(computeRecord(compute, progress.takeSamples()));
  work.components.compute = compute.component;
  work.proven.cores = compute.proofValid ? (compute.rates?.coreEquivalents ?? 0) : 0;

  const memory = await proveMemory(exec, rented, compute.rates?.overheadMs ?? 0);
  work.challenges.push(memoryRecord(memory, progress.takeSamples()));
  work.components.memory = memory.component;
  // A walk past its deadline may mean blocks are missing (recomputed on demand): the bytes count only as far as the walk's grade.
  work.proven.memoryBytes = memory.proofValid ? memory.plan.sizeBytes * memory.component : 0;
  work.valid = compute.proofValid && memory.proofValid;
  work.components.metrics = checksComponent([compute.metrics.status === 'ok', memory.metrics.status === 'ok']);
}

export async function runMinerRound(
  target: MinerAddress,
  settings: RoundSettings,
  observer: RoundObserver = {},
  signal?: AbortSignal,
  context: RoundContext = LIGHT_ROUND,
): Promise<MinerRoundResult> {
  const startedAt = new Date();
  const work: RoundWork = { findings: [], challenges: [], components: zeroComponents(), proven: { cores: 0, memoryBytes: 0 }, valid: true };
  const client = new MinerClient(target, settings.tls);
  const progress = new RoundProgress(target.name, observer, signal);
  let containerId: string | undefined;
  let error: string | undefined;
  let capacity: RoundCapacity | undefined;
  let rented: RoundSettings = settings;
  try {
    progress.enter('allocate');
    const offer = await client.getCapacity();
    const plan = planRental(context.kind, offer, { cpuCount: settings.cpuCount, memoryBytes: settings.memoryBytes, challengeMemoryBytes: settings.challengeMemoryBytes }, settings.capacity);
    capacity = capacityOf(offer, plan);
    if (plan.kind === 'held') {
      const held = heldRound(target, startedAt, capacity, plan.reason, context);
      observer.phase?.(target.name, 'done', held.unscored);
      return held;
    }
    rented = { ...settings, cpuCount: plan.cpuCount, memory: mib(plan.memoryBytes), memoryBytes: plan.memoryBytes, challengeMemoryBytes: plan.challengeMemoryBytes };
    const allocation = await client.allocate({ cpuCount: rented.cpuCount, memory: rented.memory, leaseSeconds: settings.leaseSeconds ?? 900 });
    containerId = allocation.containerId;
    await proveContainer(client, allocation, rented, progress, work);
  } catch (err) {
    error = `${progress.phase}: ${errorText(err)}`;
    if (!work.findings.some((f) => f.code === 'rental-failed')) work.findings.push(finding('round-error', error));
  } finally {
    if (containerId) {
      observer.phase?.(target.name, 'release');
      await client.release(containerId).catch((err: unknown) => work.findings.push(finding('release-failed', errorText(err))));
    }
    client.close();
  }
  const result = withLies({
    miner: target.name,
    address: target.address,
    startedAt,
    finishedAt: new Date(),
    claimed: { cpuCount: rented.cpuCount, memoryBytes: rented.memoryBytes },
    components: work.components,
    roundScore: roundScore(work.components, settings.weights),
    findings: work.findings,
    challenges: work.challenges,
    error,
    capacity: capacity && settleCapacity(capacity, work.proven, work.valid, context.last, context.earlier),
  });
  observer.phase?.(target.name, error ? 'failed' : 'done', error ?? (result.lie ? 'lie: the samples cannot be true' : undefined));
  return result;
}
