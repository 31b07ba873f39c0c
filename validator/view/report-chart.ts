/**
 * The report's line charts as inline SVG: axes with ticks and labels, a
 * legend, and each series drawn as one or more separate paths (segments), so
 * that data that is not continuous (one challenge's separate calls) is never
 * joined into one line.
 */
import { esc, trim } from './html.js';

export type Point = readonly [number, number];

export interface Series {
  label: string;
  color: string;
  /** Each segment is drawn as its own path; nothing joins one segment to the next. */
  segments: ReadonlyArray<readonly Point[]>;
  /** A tooltip per segment (same index), e.g. which call it is. */
  titles?: readonly string[];
  dashed?: boolean;
  dots?: boolean;
  /** With `dots`: a tooltip per point (segment by segment, point by point), e.g. its value with units. */
  pointTitles?: ReadonlyArray<readonly string[]>;
}

/** A region of the x axis marked and named on the chart (one call of a challenge). */
export interface Band {
  start: number;
  end: number;
  label: string;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xMin?: number;
  xMax: number;
  /** Where x is labelled; default five evenly spaced values. */
  xTicks?: number[];
  yMax: number;
  xFormat?: (x: number) => string;
  yFormat?: (y: number) => string;
  /** Drawn as a faint divider before each band (but the first) and a label over each band wide enough for it. */
  bands?: readonly Band[];
}

/** Smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k) at or above x; 1 when x <= 0. */
export function niceCeil(x: number): number {
  if (!(x > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(x));
  return ([1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((m) => m * power >= x * (1 - 1e-9)) ?? 10) * power;
}

/** Evenly spaced ticks from 0 at a round step (1, 2 or 5 × 10^k), at most `most` intervals, the last at or past `end`. */
export function roundTicks(end: number, most = 5): number[] {
  if (!(end > 0)) return [0, 1];
  const power = 10 ** Math.floor(Math.log10(end / most));
  const step = [1, 2, 5, 10].map((m) => m * power).find((st) => end / st <= most * (1 + 1e-9)) ?? 10 * power;
  const count = Math.ceil(end / step - 1e-9);
  return Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

/** Every id when there are few, else five of them spread out (round ids on an x axis). */
export function idTicks(ids: readonly number[]): number[] {
  if (ids.length <= 10) return [...ids];
  return [0, 0.25, 0.5, 0.75, 1].map((t) => ids[Math.round(t * (ids.length - 1))]!);
}

const WIDTH = 460;
const HEIGHT = 220;
const PAD = { left: 58, right: 12, top: 28, bottom: 42 };
const PLOT_W = WIDTH - PAD.left - PAD.right;
const PLOT_H = HEIGHT - PAD.top - PAD.bottom;
/** Narrowest band (px) that gets a label. */
const BAND_LABEL_MIN_PX = 34;

interface Scale {
  x: (v: number) => number;
  y: (v: number) => number;
}

function scaleOf(spec: ChartSpec): Scale & { xMin: number; xSpan: number } {
  const xMin = spec.xMin ?? 0;
  const xSpan = spec.xMax > xMin ? spec.xMax - xMin : 1;
  return {
    xMin,
    xSpan,
    x: (v) => PAD.left + ((v - xMin) / xSpan) * PLOT_W,
    y: (v) => PAD.top + PLOT_H - (Math.min(v, spec.yMax) / spec.yMax) * PLOT_H,
  };
}

function axes(spec: ChartSpec, scale: ReturnType<typeof scaleOf>): string {
  const xFormat = spec.xFormat ?? trim;
  const yFormat = spec.yFormat ?? trim;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map((t) => {
      const gy = scale.y(t * spec.yMax).toFixed(1);
      return `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${gy}" y2="${gy}" stroke="#e5e7eb"/><text x="${PAD.left - 6}" y="${gy}" font-size="11" fill="#374151" text-anchor="end" dominant-baseline="middle">${esc(yFormat(t * spec.yMax))}</text>`;
    })
    .join('');
  const xTicks = (spec.xTicks ?? ticks.map((t) => scale.xMin + t * scale.xSpan))
    .map((value) => `<text x="${scale.x(value).toFixed(1)}" y="${PAD.top + PLOT_H + 16}" font-size="11" fill="#374151" text-anchor="middle">${esc(xFormat(value))}</text>`)
    .join('');
  return (
    grid +
    xTicks +
    `<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${PAD.top + PLOT_H}" stroke="#6b7280"/>` +
    `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${PAD.top + PLOT_H}" y2="${PAD.top + PLOT_H}" stroke="#6b7280"/>`
  );
}

function bandMarks(bands: readonly Band[], scale: Scale): string {
  return bands
    .map((band, i) => {
      const x0 = scale.x(band.start);
      // The divider stands in the gap between the previous band and this one.
      const xd = (scale.x(bands[i - 1]?.end ?? band.start) + x0) / 2;
      const divider = i === 0 ? '' : `<line class="call-break" x1="${xd.toFixed(1)}" x2="${xd.toFixed(1)}" y1="${PAD.top}" y2="${PAD.top + PLOT_H}" stroke="#d1d5db" stroke-dasharray="2 3"/>`;
      const width = scale.x(band.end) - x0;
      const label =
        width >= BAND_LABEL_MIN_PX
          ? `<text x="${(x0 + width / 2).toFixed(1)}" y="${PAD.top + 9}" font-size="9" fill="#6b7280" text-anchor="middle">${esc(band.label)}</text>`
          : '';
      return divider + label;
    })
    .join('');
}

function seriesPaths(s: Series, scale: Scale): string {
  const style = `fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}`;
  return s.segments
    .filter((segment) => segment.length > 0)
    .map((segment, i) => {
      const coords = segment.map(([px, py]) => [scale.x(px).toFixed(1), scale.y(py).toFixed(1)] as const);
      const title = s.titles?.[i] === undefined ? '' : `<title>${esc(s.titles[i])}</title>`;
      // One sample alone is a dot: a path of one point draws nothing.
      const line =
        coords.length === 1
          ? `<circle class="segment" cx="${coords[0]![0]}" cy="${coords[0]![1]}" r="2.5" fill="${s.color}">${title}</circle>`
          : `<path class="segment" d="M${coords.map(([cx, cy]) => `${cx},${cy}`).join(' L')}" ${style}>${title}</path>`;
      const dot = ([cx, cy]: readonly [string, string], j: number) => {
        const tip = s.pointTitles?.[i]?.[j];
        return `<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"${tip === undefined ? '/>' : `><title>${esc(tip)}</title></circle>`}`;
      };
      const dots = s.dots ? coords.map(dot).join('') : '';
      return line + dots;
    })
    .join('');
}

function legend(series: readonly Series[]): string {
  return series
    .map(
      (s, i) =>
        `<g transform="translate(${PAD.left + i * 130},${12})"><line x1="0" x2="16" y1="0" y2="0" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/><text x="20" y="0" font-size="11" fill="#374151" dominant-baseline="middle">${esc(s.label)}</text></g>`,
    )
    .join('');
}

/** A line chart as inline SVG. */
export function lineChart(spec: ChartSpec): string {
  const scale = scaleOf(spec);
  const lines = spec.series.map((s) => seriesPaths(s, scale)).join('');
  const empty = spec.series.every((s) => s.segments.every((segment) => segment.length === 0))
    ? `<text x="${PAD.left + PLOT_W / 2}" y="${PAD.top + PLOT_H / 2}" font-size="12" fill="#9ca3af" text-anchor="middle">no samples</text>`
    : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" font-family="sans-serif">` +
    `<title>${esc(spec.title)}</title>${axes(spec, scale)}${bandMarks(spec.bands ?? [], scale)}` +
    `${lines}${empty}${legend(spec.series)}` +
    `<text x="${PAD.left + PLOT_W / 2}" y="${HEIGHT - 6}" font-size="12" fill="#111827" text-anchor="middle">${esc(spec.xLabel)}</text>` +
    `<text transform="translate(14,${PAD.top + PLOT_H / 2}) rotate(-90)" font-size="12" fill="#111827" text-anchor="middle">${esc(spec.yLabel)}</text>` +
    `</svg>`
  );
}
