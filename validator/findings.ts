/**
 * Why a component scored less than 1 or a round scored 0: a reason code an
 * operator can act on, a sentence, and the figures that were measured. Shown
 * in the live view, `--json`, the report and the store
 * (docs/verification.md, "Findings").
 */

export type FindingCode =
  /** Every all-workers compute commit was killed at the published timeout (slower than the minimum core rate): compute 0. */
  | 'compute-too-slow'
  /** The all-workers run was too slow against the single-worker run in the same container (parallel efficiency below the published minimum): fewer cores than claimed. The component is the proven throughput either way. */
  | 'fewer-cores'
  /** A compute commit or open did not verify (Merkle root, range, Freivalds, malformed output): compute 0. */
  | 'compute-proof-invalid'
  /** The best of k memory walks missed the deadline: a lower memory component. */
  | 'memory-too-slow'
  /** The memory commit, walk or its spot checks did not verify: memory 0. */
  | 'memory-proof-invalid'
  /** Streamed samples that cannot be true (CPU beyond the cores or the wall time, memory beyond the limit, counters going back): a lie, the round scores 0. */
  | 'samples-impossible'
  /** Streamed samples that do not account for the work (too little CPU or memory shown): a lower metrics component. */
  | 'samples-mismatch'
  /** Allocate, SSH login, the nonce echo or the probe upload failed: no challenge could run. */
  | 'rental-failed'
  /** The round stopped early (the miner was unreachable, refused, or a call failed). */
  | 'round-error'
  /** The container could not be released at the end of the round. */
  | 'release-failed'
  /** Stored before findings had reason codes (score database version 1). */
  | 'unclassified';

export interface Finding {
  code: FindingCode;
  message: string;
  /** Measured figures behind the finding, named with their unit (e.g. bestMs, deadlineMs, cpuSeconds). */
  figures?: Record<string, number>;
}

export const FINDING_CODES: readonly FindingCode[] = [
  'compute-too-slow',
  'fewer-cores',
  'compute-proof-invalid',
  'memory-too-slow',
  'memory-proof-invalid',
  'samples-impossible',
  'samples-mismatch',
  'rental-failed',
  'round-error',
  'release-failed',
  'unclassified',
];

export function finding(code: FindingCode, message: string, figures?: Record<string, number>): Finding {
  return figures ? { code, message, figures } : { code, message };
}

/** Wraps a challenge module's detail messages under one code. */
export const findingsOf = (code: FindingCode, messages: readonly string[]): Finding[] => messages.map((m) => finding(code, m));

/** A lie zeroes the whole round: evidence that the miner reports what cannot be true. */
export const isLie = (f: Finding): boolean => f.code === 'samples-impossible';

/** "code: message (figure=value, …)" for logs and plain text. */
export function describeFinding(f: Finding): string {
  const figures = f.figures ? Object.entries(f.figures).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`) : [];
  return `${f.code}: ${f.message}${figures.length ? ` (${figures.join(', ')})` : ''}`;
}
