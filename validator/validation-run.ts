/**
 * A validation round over every configured miner: bounded concurrency,
 * results stored, EMA scores and normalised weights computed.
 */
import type { Config } from '../common/config.js';
import { parseMemory } from '../common/units.js';
import type { LiveView, ScoreRow } from './view/live-view.js';
import { runMinerRound, type RoundSettings } from './miner-round.js';
import type { MinerRoundResult } from './round-types.js';
import type { ScoreStore } from './scoring/score-store.js';
import { capacityWeights } from './scoring/scoring.js';
import { FullRoundSchedule } from './capacity-plan.js';
import type { ValidatorMetrics } from './validator-metrics.js';

export interface RoundOutcome {
  roundId: number;
  results: MinerRoundResult[];
  table: ScoreRow[];
}

export function roundSettings(config: Config, probeBinary: string): RoundSettings {
  const v = config.validator;
  return {
    tls: { caCert: v.ca_cert, cert: v.cert, key: v.key },
    probeBinary,
    cpuCount: v.cpu_count,
    memory: v.memory,
    memoryBytes: parseMemory(v.memory, 'validator.memory'),
    challengeMemoryBytes: parseMemory(v.challenge_memory, 'validator.challenge_memory'),
    weights: v.weights,
    capacity: {
      windowSeconds: v.capacity.window_seconds,
      memoryFraction: v.capacity.memory_fraction,
      challengeFraction: v.capacity.challenge_fraction,
      maxMemoryBytes: v.capacity.max_memory === undefined ? undefined : parseMemory(v.capacity.max_memory, 'validator.capacity.max_memory'),
      bestOf: v.capacity.best_of,
    },
  };
}

export function fullRoundSchedule(config: Config): FullRoundSchedule {
  const c = config.validator.capacity;
  return new FullRoundSchedule(c.enabled ? c.window_seconds : undefined);
}

/** Runs `tasks` with at most `limit` at once, keeping their order in the result. */
async function bounded<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

export async function runValidationRound(
  config: Config,
  settings: RoundSettings,
  store: ScoreStore,
  view: LiveView,
  signal?: AbortSignal,
  metrics?: ValidatorMetrics,
  /** Kept across rounds by a running validator, so each window's random time holds. */
  schedule = fullRoundSchedule(config),
): Promise<RoundOutcome> {
  const roundId = store.startRound(new Date());
  const results = await bounded(
    config.validator.concurrency,
    config.validator.miners.map((miner) => async () => {
      const history = store.capacityHistory(miner.name, settings.capacity.bestOf);
      const context = { kind: schedule.kind(miner.name, Date.now(), history), last: history.proven, earlier: history.earlier };
      const result = await runMinerRound(miner, settings, { phase: (m, p, d) => view.phase(m, p, d), sample: (m, s) => view.sample(m, s) }, signal, context);
      store.recordMinerRound(roundId, result, config.validator.ema_alpha);
      metrics?.minerRound(result);
      view.minerDone(result);
      return result;
    }),
  );
  store.finishRound(roundId, new Date());
  const scores = store.currentScores();
  const weights = capacityWeights(scores);
  const table: ScoreRow[] = scores.map((s) => {
    const result = results.find((r) => r.miner === s.miner);
    return {
      miner: s.miner,
      roundScore: result?.roundScore,
      components: result?.components,
      ema: s.ema,
      weight: weights.get(s.miner) ?? 0,
      error: result?.error,
      offeredCpus: s.offeredCpus,
      freeCpus: s.freeCpus,
      offeredMemoryBytes: s.offeredMemoryBytes,
      freeMemoryBytes: s.freeMemoryBytes,
      provenCores: s.provenCores,
      provenMemoryBytes: s.provenMemoryBytes,
    };
  });
  metrics?.scores(table);
  return { roundId, results, table };
}
