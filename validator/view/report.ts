/**
 * The HTML report: one self-contained page (inline CSS and SVG, no script, no
 * network) with the standing scores, capacity and weights, each miner's score
 * history and proven capacity over the rounds shown and, for its recent rounds,
 * every challenge's CPU and memory series. All
 * text from the store (miner names, errors, findings, details) is escaped.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Finding } from '../findings.js';
import type { ChallengeRecord } from '../round-types.js';
import type { CurrentScore, ScorePoint, ScoreStore, StoredMinerRound, StoredRound } from '../scoring/score-store.js';
import { GIB_PER_CORE, capacityWeights } from '../scoring/scoring.js';
import { escapeHtml, esc } from './html.js';
import { capacityCells, capacityCharts, capacityNote } from './report-capacity.js';
import { idTicks, lineChart } from './report-chart.js';
import { detailsTable } from './report-details.js';
import { challengeCharts, splitCalls } from './report-timeline.js';

export { escapeHtml };

export interface ReportData {
  generatedAt: Date;
  scores: CurrentScore[];
  /** Newest first. */
  rounds: StoredRound[];
  history: Map<string, ScorePoint[]>;
}

export interface ReportOptions {
  /** How many recent rounds are shown in detail. */
  rounds?: number;
  now?: Date;
}

const MiB = 1024 * 1024;
const COLORS = { score: '#7c3aed', ema: '#059669' };

const fixed3 = (x: number): string => x.toFixed(3);
const anchor = (miner: string): string => `miner-${miner.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** Everything the report shows, read from the store. */
export function reportData(store: ScoreStore, options: ReportOptions = {}): ReportData {
  const scores = store.currentScores();
  const rounds = store.recentRounds(options.rounds ?? 5);
  const miners = new Set([...scores.map((s) => s.miner), ...rounds.flatMap((r) => r.miners.map((m) => m.miner))]);
  return {
    generatedAt: options.now ?? new Date(),
    scores,
    rounds,
    history: new Map([...miners].map((m) => [m, store.scoreHistory(m)])),
  };
}

/** Writes the report for `store` to `path` (parent folder created; replaced atomically). */
export function writeReport(store: ScoreStore, path: string, options: ReportOptions = {}): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, renderReport(reportData(store, options)));
  renameSync(temporary, path);
}

function figuresText(f: Finding): string {
  const entries = Object.entries(f.figures ?? {});
  return entries.length ? ` <span class="figures">(${entries.map(([k, v]) => `${esc(k)} ${Number.isInteger(v) ? v : v.toFixed(2)}`).join(', ')})</span>` : '';
}

function findingsList(findings: readonly Finding[]): string {
  return findings.length
    ? `<ul class="findings">${findings.map((f) => `<li><code>${esc(f.code)}</code> ${esc(f.message)}${figuresText(f)}</li>`).join('')}</ul>`
    : '';
}

function challengeSection(ch: ChallengeRecord, claimedCpus: number): string {
  const deadline = ch.deadlineMs === undefined ? '' : ` (deadline ${Math.round(ch.deadlineMs)} ms)`;
  const details = detailsTable(ch.details);
  return (
    `<figure class="challenge"><figcaption><b>${esc(ch.kind)} ${esc(ch.step)}</b> ` +
    `<span class="${ch.passed ? 'pass' : 'fail'}">${ch.passed ? 'passed' : 'failed'}</span> ` +
    `in ${Math.round(ch.elapsedMs)} ms${deadline} · ${ch.samples.length} samples from ${splitCalls(ch.samples).length} call(s)</figcaption>` +
    `<div class="charts">${challengeCharts(ch, claimedCpus)}</div>${findingsList(ch.findings)}${details}</figure>`
  );
}

function componentsTable(r: StoredMinerRound): string {
  const c = r.components;
  return (
    '<table><tr><th>round score</th><th>compute</th><th>memory</th><th>rental</th><th>metrics</th><th>EMA after</th><th>claimed</th></tr>' +
    `<tr><td>${fixed3(r.roundScore)}</td><td>${fixed3(c.compute)}</td><td>${fixed3(c.memory)}</td><td>${fixed3(c.rental)}</td>` +
    `<td>${fixed3(c.metrics)}</td><td>${fixed3(r.ema)}</td><td>${r.claimed.cpuCount} CPU, ${Math.round(r.claimed.memoryBytes / MiB)} MiB</td></tr></table>`
  );
}

function minerRoundSection(r: StoredMinerRound, open: boolean): string {
  const duration = ((r.finishedAt.getTime() - r.startedAt.getTime()) / 1000).toFixed(1);
  const error = r.error ? ` · <span class="fail">${esc(r.error)}</span>` : r.lie ? ' · <span class="fail">lie: scored 0</span>' : '';
  return (
    `<details${open ? ' open' : ''}><summary>Round ${r.roundId} · ${esc(r.startedAt.toISOString())} · ${duration} s · score ${fixed3(r.roundScore)}${error}</summary>` +
    (capacityNote(r.capacity) ? `<p class="meta">${esc(capacityNote(r.capacity))}</p>` : '') +
    componentsTable(r) +
    (r.findings.length ? `<h4>Findings</h4>${findingsList(r.findings)}` : '') +
    r.challenges.map((ch) => challengeSection(ch, r.claimed.cpuCount)).join('') +
    '</details>'
  );
}

function historyChart(miner: string, history: readonly ScorePoint[]): string {
  const first = history[0]?.roundId ?? 0;
  const last = history.at(-1)?.roundId ?? 1;
  return lineChart({
    title: `${miner}: score history`,
    xLabel: 'round',
    yLabel: 'score',
    xMin: first === last ? first - 1 : first,
    xMax: first === last ? last + 1 : last,
    yMax: 1,
    xTicks: idTicks(history.map((h) => h.roundId)),
    series: [
      { label: 'round score', color: COLORS.score, dots: true, segments: [history.map((h) => [h.roundId, h.score] as const)] },
      { label: 'EMA', color: COLORS.ema, segments: [history.map((h) => [h.roundId, h.ema] as const)] },
    ],
  });
}

function scoresTable(scores: readonly CurrentScore[]): string {
  const weights = capacityWeights(scores);
  const rows = scores
    .map(
      (s) =>
        `<tr><td><a href="#${anchor(s.miner)}">${esc(s.miner)}</a></td>${capacityCells(s)}<td>${fixed3(s.ema)}</td>` +
        `<td>${((weights.get(s.miner) ?? 0) * 100).toFixed(1)}%</td><td>${s.rounds}</td><td>${fixed3(s.lastScore)}</td><td>${esc(s.lastRoundAt.toISOString())}</td></tr>`,
    )
    .join('');
  const head = ['miner', 'offered', 'free', 'proven cores', 'proven memory', 'reliability (EMA)', 'weight', 'rounds', 'last score', 'last round'];
  return `<table class="scores"><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows}</table>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1000px;padding:0 1rem;color:#111827;background:#fff}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{margin-top:2.5rem;border-bottom:1px solid #e5e7eb;padding-bottom:.3rem}
.meta{color:#6b7280}table{border-collapse:collapse;margin:.6rem 0}th,td{border:1px solid #e5e7eb;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f9fafb}details{margin:.8rem 0;border:1px solid #e5e7eb;border-radius:6px;padding:.4rem .8rem}
summary{cursor:pointer;font-weight:600}.pass{color:#047857}.fail{color:#b91c1c}.findings li{color:#92400e}
figure.challenge{margin:.8rem 0;padding-top:.4rem;border-top:1px dashed #e5e7eb}.charts{display:flex;flex-wrap:wrap;gap:.5rem}
table.details{font-size:12px}table.details caption{text-align:left;color:#6b7280;font-size:11px}
table.details th{font-weight:normal;text-align:left;background:#f9fafb}table.details td.unit{text-align:left;color:#6b7280}
svg text{font-family:system-ui,sans-serif}
`;

/** The whole page. */
export function renderReport(data: ReportData): string {
  const miners = [...data.history.keys()].sort();
  const roundsOf = (miner: string) => data.rounds.flatMap((r) => r.miners.filter((m) => m.miner === miner));
  const sections = miners
    .map((miner) => {
      const recent = roundsOf(miner);
      const address = recent[0]?.address;
      return (
        `<section id="${anchor(miner)}"><h2>${esc(miner)}${address ? ` <small class="meta">${esc(address)}</small>` : ''}</h2>` +
        `<h3>Score history</h3>${historyChart(miner, data.history.get(miner) ?? [])}` +
        `<h3>Proven capacity</h3>${capacityCharts(miner, recent)}` +
        `<h3>Recent rounds</h3>${recent.length ? recent.map((r, i) => minerRoundSection(r, i === 0)).join('') : '<p class="meta">none in the recent rounds</p>'}` +
        '</section>'
      );
    })
    .join('');
  return (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>Polarise validator report</title><style>${CSS}</style></head><body>` +
    `<h1>Polarise validator report</h1><p class="meta">Generated ${esc(data.generatedAt.toISOString())} · ` +
    `${data.rounds.length} recent round(s) shown · offered and free are the miner's claim; ` +
    `weight ∝ proven capacity (core-equivalents + GiB/${GIB_PER_CORE}) × reliability (EMA of round scores)</p>` +
    `<h2>Scores</h2>${data.scores.length ? scoresTable(data.scores) : '<p class="meta">No scores yet.</p>'}` +
    sections +
    '</body></html>\n'
  );
}
