/**
 * The live view's text, built without side effects: the terminal frame (one
 * line per miner with its phase, a progress bar over PHASES and CPU / memory
 * sparklines) and the end-of-round score table.
 */
import { formatBytes } from '../../common/units.js';
import type { Finding } from '../findings.js';
import { PHASES, allFindings, type ComponentScores, type MinerRoundResult, type Phase, type SampleRecord } from '../round-types.js';

export interface ScoreRow {
  miner: string;
  /** Absent when the miner was not part of this round. */
  roundScore?: number;
  components?: ComponentScores;
  /** The miner's reliability: the moving average of its round scores. */
  ema: number;
  weight: number;
  error?: string;
  /** The miner's last stated offer (a claim), absent when it stated none. */
  offeredCpus?: number;
  freeCpus?: number;
  offeredMemoryBytes?: number;
  freeMemoryBytes?: number;
  /** Capacity last proven: core-equivalents and bytes (0 until a proof ran). */
  provenCores?: number;
  provenMemoryBytes?: number;
}

/** One miner as the terminal frame shows it. */
export interface MinerView {
  miner: string;
  phase: Phase;
  detail?: string;
  /** Index in PHASES of the furthest phase reached. */
  reached: number;
  /** The latest samples, oldest first (at most SAMPLES_KEPT). */
  samples: SampleRecord[];
  result?: MinerRoundResult;
}

export interface FrameOptions {
  columns: number;
  /** Most lines the frame may take (the terminal's rows). */
  rows?: number;
  cpuCount?: number;
  color?: boolean;
}

export const SAMPLES_KEPT = 40;

export const ESC = '\x1b[';
const SPARKS = '▁▂▃▄▅▆▇█';
const BAR_WIDTH = 10;
const DETAIL_ROOM = 24;
const STYLE = { reset: `${ESC}0m`, bold: `${ESC}1m`, dim: `${ESC}2m`, red: `${ESC}31m`, green: `${ESC}32m`, yellow: `${ESC}33m`, cyan: `${ESC}36m` };
type Style = keyof typeof STYLE;

/** Control characters (ESC included) from a miner's text must never reach the terminal. */
export function clean(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ');
}

export function sparkline(values: readonly number[], max: number, width: number): string {
  const shown = values.slice(-width);
  const chars = shown.map((v) => SPARKS[Math.round(Math.min(1, Math.max(0, max > 0 ? v / max : 0)) * (SPARKS.length - 1))]!);
  return ' '.repeat(width - shown.length) + chars.join('');
}

interface Segment {
  text: string;
  style?: Style;
}

/** Joins segments into one line of at most `columns` visible characters, styled when `color`. */
function fit(segments: readonly Segment[], columns: number, color: boolean): string {
  let room = columns;
  let line = '';
  for (const { text, style } of segments) {
    if (room <= 0) break;
    if (text === '') continue;
    const chars = [...text];
    const shown = chars.length > room ? chars.slice(0, Math.max(0, room - 1)).join('') + '…' : text;
    room -= Math.min(chars.length, room);
    line += color && style ? STYLE[style] + shown + STYLE.reset : shown;
  }
  return line;
}

const score3 = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(3));

function phaseStyle(view: MinerView): Style {
  if (view.phase === 'failed') return 'red';
  if (view.phase === 'done') return 'green';
  return 'cyan';
}

/** " · compute-too-slow, samples-mismatch": the reason codes, each once. */
function findingsSummary(findings: readonly Finding[]): string {
  const codes = [...new Set(findings.map((f) => f.code))];
  return codes.length ? ` · ${codes.join(', ')}` : '';
}

function minerLine(view: MinerView, nameWidth: number, options: FrameOptions): string {
  const color = options.color ?? false;
  const last = view.samples.at(-1);
  const cpuMax = options.cpuCount
    ? options.cpuCount * 100
    : Math.max(100, Math.ceil(Math.max(0, ...view.samples.map((s) => s.cpuUsage)) / 100) * 100);
  const memMax = Math.max(last?.memoryLimit ?? 0, ...view.samples.map((s) => s.memoryUsage));
  // Name, phase, bar and figures take nameWidth + 60 columns; the two sparklines share what is left
  // after DETAIL_ROOM for the detail, each between 6 and SAMPLES_KEPT wide.
  const sparkWidth = Math.max(6, Math.min(SAMPLES_KEPT, Math.floor((options.columns - nameWidth - 60 - DETAIL_ROOM) / 2)));
  const done = view.phase === 'done' ? PHASES.length - 1 : view.reached;
  const filled = Math.round((done / (PHASES.length - 1)) * BAR_WIDTH);
  const result = view.result;
  const detail = result
    ? result.error
      ? `error: ${result.error}`
      : result.unscored
        ? `held by renters: not scored`
        : `${result.capacity?.kind === 'full' ? 'full round · ' : ''}score ${score3(result.roundScore)}${findingsSummary(allFindings(result))}${result.lie ? ' · LIE' : ''}`
    : (view.detail ?? '');
  return fit(
    [
      { text: clean(view.miner).padEnd(nameWidth) + ' ', style: 'bold' },
      { text: view.phase.padEnd(15), style: phaseStyle(view) },
      { text: '█'.repeat(filled), style: view.phase === 'failed' ? 'red' : 'green' },
      { text: '░'.repeat(BAR_WIDTH - filled), style: 'dim' },
      { text: ` ${String(done + 1).padStart(String(PHASES.length).length)}/${PHASES.length}  cpu ` },
      { text: sparkline(view.samples.map((s) => s.cpuUsage), cpuMax, sparkWidth), style: 'yellow' },
      { text: ` ${last ? `${Math.round(last.cpuUsage)}%` : '-'}`.padEnd(6) + ' mem ' },
      { text: sparkline(view.samples.map((s) => s.memoryUsage), memMax, sparkWidth), style: 'cyan' },
      { text: ` ${last ? `${formatBytes(last.memoryUsage, 'compact')}/${formatBytes(last.memoryLimit, 'compact')}` : '-'}`.padEnd(12) },
      { text: clean(detail), style: result?.error ? 'red' : undefined },
    ],
    options.columns,
    color,
  );
}

/** The terminal frame for the given miners: a header line, then one line per miner. Pure. */
export function renderFrame(miners: readonly MinerView[], options: FrameOptions): string[] {
  const color = options.color ?? false;
  const count = (p: (v: MinerView) => boolean) => miners.filter(p).length;
  const failed = count((v) => v.phase === 'failed');
  const done = count((v) => v.phase === 'done');
  const header = fit(
    [
      { text: 'round ', style: 'bold' },
      { text: `${miners.length} miner(s) · ${miners.length - done - failed} running · ${done} done · ${failed} failed` },
    ],
    options.columns,
    color,
  );
  const nameWidth = Math.min(20, Math.max(5, ...miners.map((m) => [...m.miner].length)));
  const maxMiners = Math.max(1, (options.rows ?? Number.POSITIVE_INFINITY) - 2);
  const shown = miners.length > maxMiners ? miners.slice(0, maxMiners - 1) : miners;
  const lines = [header, ...shown.map((m) => minerLine(m, nameWidth, options))];
  if (shown.length < miners.length) lines.push(fit([{ text: `… and ${miners.length - shown.length} more`, style: 'dim' }], options.columns, color));
  return lines;
}

/** Widest the score table gets: a longer line loses its end (the note first) to an ellipsis. */
export const SCORE_TABLE_COLUMNS = 160;
/** Longest miner name the score table shows whole. */
const TABLE_NAME_MAX = 20;

const cut = (text: string, most: number): string => {
  const chars = [...text];
  return chars.length > most ? chars.slice(0, Math.max(0, most - 1)).join('') + '…' : text;
};

/** "2 CPU 4.0G", or "-" when the miner stated no offer. */
function cpusAndMemory(cpus: number | undefined, bytes: number | undefined): string {
  return cpus === undefined ? '-' : `${cpus} CPU ${formatBytes(bytes ?? 0, 'compact')}`;
}

/** "1.93 cores 256M": core-equivalents with 2 decimals and the memory proven. */
function proven(r: ScoreRow): string {
  return r.provenCores === undefined && r.provenMemoryBytes === undefined
    ? '-'
    : `${(r.provenCores ?? 0).toFixed(2)} cores ${formatBytes(r.provenMemoryBytes ?? 0, 'compact')}`;
}

/**
 * The end-of-round table: miner, round score, components, the offer (total and
 * free), the capacity proven, reliability (EMA) and weight, at most `columns`
 * (SCORE_TABLE_COLUMNS) wide. Pure.
 */
export function renderScoreTable(rows: readonly ScoreRow[], options: { color?: boolean; columns?: number } = {}): string[] {
  const head = ['miner', 'round', 'compute', 'memory', 'rental', 'metrics', 'offered', 'free', 'proven', 'reliability', 'weight', 'note'];
  const body = rows.map((r) => [
    cut(clean(r.miner), TABLE_NAME_MAX),
    score3(r.roundScore),
    score3(r.components?.compute),
    score3(r.components?.memory),
    score3(r.components?.rental),
    score3(r.components?.metrics),
    cpusAndMemory(r.offeredCpus, r.offeredMemoryBytes),
    cpusAndMemory(r.freeCpus, r.freeMemoryBytes),
    proven(r),
    score3(r.ema),
    `${(r.weight * 100).toFixed(1)}%`,
    r.error ? clean(r.error) : '',
  ]);
  const columns = Math.min(options.columns ?? SCORE_TABLE_COLUMNS, SCORE_TABLE_COLUMNS);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((cells) => [...cells[i]!].length)));
  const pad = (c: string, i: number) => {
    const fill = ' '.repeat(widths[i]! - [...c].length);
    return i === 0 || i === head.length - 1 ? c + fill : fill + c;
  };
  // A line wider than `columns` (a long note, a small terminal) is cut at the edge rather than wrapped.
  const line = (cells: string[]) => cut(cells.map(pad).join('  ').trimEnd(), columns);
  const bold = (text: string) => (options.color ? STYLE.bold + text + STYLE.reset : text);
  const rule = widths.map((w) => '─'.repeat(w)).join('  ').slice(0, columns).trimEnd();
  return [bold(line(head)), rule, ...body.map(line)];
}
