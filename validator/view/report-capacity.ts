/**
 * Capacity in the HTML report: the offer (a claim), what was free, what was
 * proven, as table cells, and per miner two charts of what each stored round
 * proved (core-equivalents, and GiB) next to what the miner offered.
 */
import { formatBytes } from '../../common/units.js';
import type { StoredMinerRound } from '../scoring/score-store.js';
import type { RoundCapacity } from '../round-types.js';
import { esc, trim } from './html.js';
import { idTicks, lineChart, niceCeil, type Point } from './report-chart.js';

const GiB = 1024 ** 3;
const COLORS = { cores: '#d97706', memory: '#2563eb', offered: '#9ca3af' };

/** "2 CPU, 4.0 GiB", or "-" when the miner stated no offer. */
export function offerCell(cpus: number | undefined, bytes: number | undefined): string {
  return cpus === undefined ? '-' : `${cpus} CPU, ${formatBytes(bytes ?? 0)}`;
}

/** Core-equivalents with 2 decimals: "1.93 cores". */
export const coresText = (cores: number): string => `${cores.toFixed(2)} ${cores === 1 ? 'core' : 'cores'}`;

/** What kind of round it was and what of its proven capacity is credit for capacity renters hold; '' before rounds had kinds. */
export function capacityNote(c: RoundCapacity | undefined): string {
  if (!c?.kind) return '';
  const credit = (c.creditedCores ?? 0) > 0 || (c.creditedMemoryBytes ?? 0) > 0
    ? `; ${coresText(c.creditedCores ?? 0)} and ${formatBytes(c.creditedMemoryBytes ?? 0)} credited at the last proven value for capacity renters hold`
    : '';
  if (c.kind === 'held') return `nothing free (renters hold the capacity): not scored${credit}`;
  if (c.kind === 'light') return 'light round (liveness; its proof is a lower bound of the proven capacity)';
  return `full-capacity round: rented ${c.rentedCpus} CPU, ${formatBytes(c.rentedMemoryBytes ?? 0)}${credit}${standingNote(c)}`;
}

/** When an earlier full round proved more than this one (or the proof failed), what the standing is and why. */
function standingNote(c: RoundCapacity): string {
  if (c.invalid) return '; an invalid proof or a lie: nothing proven counts, earlier rounds included';
  if (c.roundProvenCores === undefined || c.provenCores === undefined) return '';
  const round = { cores: c.roundProvenCores, bytes: c.roundProvenMemoryBytes ?? 0 };
  if (round.cores >= c.provenCores && round.bytes >= (c.provenMemoryBytes ?? 0)) return '';
  return `; proved ${coresText(round.cores)} and ${formatBytes(round.bytes)}, standing at ${coresText(c.provenCores)} and ${formatBytes(c.provenMemoryBytes ?? 0)} (the best of the recent full rounds)`;
}

/** One round's proven capacity, as the chart draws it. */
export interface CapacityPoint {
  roundId: number;
  at: Date;
  /** Absent when no compute proof ran that round. */
  provenCores?: number;
  /** Absent when the memory challenge did not run. */
  provenMemoryBytes?: number;
  offeredCpus: number;
  offeredMemoryBytes: number;
}

/** The rounds that carry a capacity record, oldest first; rounds without one are skipped. */
export function capacityPoints(rounds: readonly StoredMinerRound[]): CapacityPoint[] {
  return rounds
    .filter((r) => r.capacity !== undefined)
    .map((r) => ({
      roundId: r.roundId,
      at: r.startedAt,
      provenCores: r.capacity!.provenCores,
      provenMemoryBytes: r.capacity!.provenMemoryBytes,
      offeredCpus: r.capacity!.offeredCpus,
      offeredMemoryBytes: r.capacity!.offeredMemoryBytes,
    }))
    .sort((a, b) => a.roundId - b.roundId);
}

interface Measure {
  title: string;
  yLabel: string;
  color: string;
  proven: (p: CapacityPoint) => number | undefined;
  offered: (p: CapacityPoint) => number;
  text: (value: number) => string;
}

const MEASURES: Measure[] = [
  { title: 'proven cores', yLabel: 'core-equivalents', color: COLORS.cores, proven: (p) => p.provenCores, offered: (p) => p.offeredCpus, text: coresText },
  {
    title: 'proven memory',
    yLabel: 'memory (GiB)',
    color: COLORS.memory,
    proven: (p) => (p.provenMemoryBytes === undefined ? undefined : p.provenMemoryBytes / GiB),
    offered: (p) => p.offeredMemoryBytes / GiB,
    text: (gib) => formatBytes(gib * GiB),
  },
];

function capacityChart(miner: string, points: readonly CapacityPoint[], m: Measure): string {
  const proven = points.filter((p) => m.proven(p) !== undefined);
  const ids = points.map((p) => p.roundId);
  const first = ids[0]!;
  const last = ids.at(-1)!;
  const tip = (p: CapacityPoint, what: string, value: number) => `round ${p.roundId} (${p.at.toISOString()}): ${m.text(value)} ${what}`;
  return lineChart({
    title: `${miner}: ${m.title}`,
    xLabel: 'round',
    yLabel: m.yLabel,
    xMin: first === last ? first - 1 : first,
    xMax: first === last ? last + 1 : last,
    xTicks: idTicks(ids),
    yMax: niceCeil(Math.max(...points.map((p) => Math.max(m.offered(p), m.proven(p) ?? 0)))),
    yFormat: trim,
    series: [
      {
        label: m.title,
        color: m.color,
        dots: true,
        segments: [proven.map((p) => [p.roundId, m.proven(p)!] as Point)],
        pointTitles: [proven.map((p) => tip(p, 'proven', m.proven(p)!))],
      },
      {
        label: 'offered (claim)',
        color: COLORS.offered,
        dashed: true,
        segments: [points.map((p) => [p.roundId, m.offered(p)] as Point)],
        titles: ['what the miner stated it offers'],
      },
    ],
  });
}

/** The miner's two capacity charts over the stored rounds given, or a note when none of them carries capacity. */
export function capacityCharts(miner: string, rounds: readonly StoredMinerRound[]): string {
  const points = capacityPoints(rounds);
  if (points.length === 0) return '<p class="meta">No capacity recorded in the rounds shown.</p>';
  return `<div class="charts">${MEASURES.map((m) => capacityChart(miner, points, m)).join('')}</div>`;
}

/** The standing scores' capacity cells: offered, free, proven cores, proven memory. */
export function capacityCells(s: {
  offeredCpus?: number;
  freeCpus?: number;
  offeredMemoryBytes?: number;
  freeMemoryBytes?: number;
  provenCores: number;
  provenMemoryBytes: number;
}): string {
  const cells = [offerCell(s.offeredCpus, s.offeredMemoryBytes), offerCell(s.freeCpus, s.freeMemoryBytes), coresText(s.provenCores), formatBytes(s.provenMemoryBytes)];
  return cells.map((c) => `<td>${esc(c)}</td>`).join('');
}
