/**
 * A challenge's details (parameters and figures kept with the record) as a
 * labelled table with units, instead of raw JSON. Known keys get a name a
 * reader understands; any other key is humanised from its name, and its unit
 * read from its suffix (…Ms: ms, …Bytes: KiB/MiB/GiB, …Gmas: GMA/s).
 */
import { formatBytes } from '../../common/units.js';
import { esc } from './html.js';

export interface DetailRow {
  label: string;
  value: string;
  unit: string;
}

/** Names for the keys the compute and memory records carry (validator/miner-round.ts). */
const LABELS: Record<string, string> = {
  n: 'matrix size n',
  factors: 'matrices per chain',
  workers: 'workers',
  throughputGmas: 'throughput',
  perCoreGmas: 'per core',
  coreEquivalents: 'core equivalents',
  efficiency: 'all workers vs one, per worker',
  overheadMs: 'call overhead (no-op)',
  allRunsMs: 'all-worker commits',
  singleRunsMs: 'single-worker commits',
  noopRunsMs: 'no-op calls',
  verifyCpuMs: 'verification CPU',
  ingressBytes: 'proof data received',
  component: 'component score',
  sizeBytes: 'size',
  commitMs: 'commit',
  openMs: 'open',
  walksMs: 'walks',
  segmentsChecked: 'segments checked',
  blocksChecked: 'blocks checked',
  network: 'container network traffic',
  receivedPackets: 'packets received',
  sentPackets: 'packets sent',
};

/** Units of keys whose name does not say it. */
const UNITS: Record<string, string> = { coreEquivalents: 'reference cores', efficiency: '%' };

/** Suffix → unit; the suffix is dropped from the label. */
const SUFFIXES: ReadonlyArray<readonly [RegExp, string]> = [
  [/Ms$/, 'ms'],
  [/Us$/, 'µs'],
  [/Gmas$/, 'GMA/s'],
  [/Percent$/, '%'],
  [/Seconds$/, 's'],
  [/Bytes$/, 'bytes'],
];

/** "seedPrefix" → "seed prefix", "open_rows" → "open rows". */
export function humanise(key: string): string {
  const words = key
    .replace(/_+/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .trim();
  return /^[A-Z0-9]+$/.test(words) ? words : words.toLowerCase();
}

/** A number as a reader wants it: integers whole, else about three significant digits, never 303.93825100000004. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (Number.isInteger(x) || abs >= 100) return abs >= 10_000 ? Math.round(x).toLocaleString('en-US') : String(Math.round(x));
  if (abs >= 1) return String(Number(x.toFixed(2)));
  return String(Number(x.toPrecision(3)));
}

/** Any value, readably: numbers rounded, lists joined, objects as "name value" pairs. */
function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.length ? value.map(formatValue).join(', ') : 'none';
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => {
        const row = detailRow(k, v);
        return `${row.label} ${row.value}${row.unit ? ` ${row.unit}` : ''}`;
      })
      .join(', ');
  }
  return String(value);
}

const allNumbers = (value: unknown): value is number | number[] =>
  typeof value === 'number' || (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'number'));

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes as formatBytes writes them; a list in one binary unit, chosen by its largest value. */
function bytesRow(label: string, value: number | number[]): DetailRow {
  if (!Array.isArray(value)) {
    const [number, unit] = formatBytes(value).split(' ');
    return { label, value: number!, unit: unit! };
  }
  const unit = formatBytes(Math.max(...value.map(Math.abs))).split(' ')[1]!;
  const divisor = 1024 ** Math.max(0, BYTE_UNITS.indexOf(unit));
  return { label, value: value.map((v) => formatNumber(v / divisor)).join(', '), unit };
}

/** One detail as a table row: a label, the value without its unit, the unit. */
export function detailRow(key: string, value: unknown): DetailRow {
  const suffix = SUFFIXES.find(([pattern]) => pattern.test(key));
  const label = LABELS[key] ?? humanise(suffix ? key.replace(suffix[0], '') : key);
  if (!allNumbers(value)) return { label, value: formatValue(value), unit: '' };
  if (suffix?.[1] === 'bytes') return bytesRow(label, value);
  const unit = UNITS[key] ?? suffix?.[1] ?? '';
  const scaled = unit === '%' && !suffix ? (v: number) => v * 100 : (v: number) => v;
  return { label, value: formatValue(Array.isArray(value) ? value.map(scaled) : scaled(value)), unit };
}

/** The details as a two-column table of label and value with unit; empty when there are none. */
export function detailsTable(details: Record<string, unknown>): string {
  const rows = Object.entries(details)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => detailRow(key, value));
  if (!rows.length) return '';
  const body = rows
    .map((r) => `<tr><th scope="row">${esc(r.label)}</th><td>${esc(r.value)}</td><td class="unit">${esc(r.unit)}</td></tr>`)
    .join('');
  return `<table class="details"><caption>details</caption>${body}</table>`;
}
