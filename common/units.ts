import { invalidArgument } from './errors.js';

const MULTIPLIERS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Longest size text read ("1099511627776 bytes" fits with room). */
const MAX_SIZE_TEXT = 32;

/** Largest amount of memory anyone may ask for: 1 PiB. */
export const MAX_MEMORY_BYTES = 1024 ** 5;

/**
 * Parses a memory size as Docker and the seed API write it ("512m", "2g",
 * "1.5G", "1073741824") into bytes, with binary multiples as Docker uses.
 * Throws an invalid_argument Failure naming `field`.
 */
export function parseMemory(text: string, field = 'memory'): number {
  // Capped before any parsing: a request field may be megabytes long, and is never echoed whole.
  if (text.length > MAX_SIZE_TEXT * 4 || text.trim().length > MAX_SIZE_TEXT) {
    throw invalidArgument(field, `a size of ${text.length} characters is longer than ${MAX_SIZE_TEXT} characters; write it like "512m" or "2g"`);
  }
  // Trimmed first, so the pattern has no two adjacent runs of the same characters: it cannot backtrack.
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  if (!match) {
    throw invalidArgument(field, `"${text}" is not a size; write it like "512m", "2g", "1.5G" or a number of bytes`);
  }
  const unit = match[2]!.toLowerCase();
  const multiplier = MULTIPLIERS[unit];
  if (multiplier === undefined) {
    throw invalidArgument(field, `unknown unit "${match[2]}" in "${text}"; use b, k, m, g or t`);
  }
  const bytes = Math.floor(Number(match[1]) * multiplier);
  if (!(bytes > 0)) throw invalidArgument(field, `"${text}" must be more than zero`);
  if (bytes > MAX_MEMORY_BYTES) throw invalidArgument(field, `"${text}" is more than 1 PiB`);
  return bytes;
}

/**
 * Formats bytes the way a person reads them: "1.5 GiB", or "1.5G" in the
 * compact style a terminal column has room for.
 */
export function formatBytes(bytes: number, style: 'long' | 'compact' = 'long'): string {
  const units = style === 'long' ? ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] : ['B', 'K', 'M', 'G', 'T', 'P'];
  let value = bytes;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  if (style === 'compact') return `${value >= 10 || i === 0 ? Math.round(value) : value.toFixed(1)}${units[i]}`;
  return `${i === 0 ? value : value.toFixed(value >= 10 ? 0 : 1)} ${units[i]}`;
}

