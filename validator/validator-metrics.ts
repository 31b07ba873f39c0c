/** The validator's Prometheus metrics: scores, components, round durations, findings. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { allFindings, type MinerRoundResult } from './round-types.js';
import type { ScoreRow } from './view/live-view.js';

export class ValidatorMetrics {
  readonly registry = new Registry();

  private readonly ema = new Gauge({
    name: 'polarise_validator_miner_score',
    help: "Each miner's moving-average score",
    labelNames: ['miner'] as const,
    registers: [this.registry],
  });

  private readonly weight = new Gauge({
    name: 'polarise_validator_miner_weight',
    help: "Each miner's normalised weight",
    labelNames: ['miner'] as const,
    registers: [this.registry],
  });

  private readonly component = new Gauge({
    name: 'polarise_validator_miner_component',
    help: "Each miner's component scores in its last round",
    labelNames: ['miner', 'component'] as const,
    registers: [this.registry],
  });

  private readonly roundSeconds = new Histogram({
    name: 'polarise_validator_round_duration_seconds',
    help: 'Wall time of one miner round',
    labelNames: ['miner'] as const,
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [this.registry],
  });

  private readonly findings = new Counter({
    name: 'polarise_validator_findings_total',
    help: 'Findings (failed checks, errors) per miner',
    labelNames: ['miner'] as const,
    registers: [this.registry],
  });

  minerRound(result: MinerRoundResult): void {
    this.roundSeconds.observe({ miner: result.miner }, (result.finishedAt.getTime() - result.startedAt.getTime()) / 1000);
    this.findings.inc({ miner: result.miner }, allFindings(result).length);
    for (const [name, value] of Object.entries(result.components)) this.component.set({ miner: result.miner, component: name }, value);
  }

  scores(table: ScoreRow[]): void {
    for (const row of table) {
      this.ema.set({ miner: row.miner }, row.ema);
      this.weight.set({ miner: row.miner }, row.weight);
    }
  }
}
