/** Reading the probe's JSON-lines output: malformed output becomes findings, never a throw (docs/verification.md, "Compute challenge", cpu open). */
import type { ExecOutcome } from './executor.js';

/** One JSON line of the probe's output. */
export type ProbeRecord = { type: string } & Record<string, unknown>;

export interface ParsedOutput {
  records: ProbeRecord[];
  findings: string[];
}

const MAX_FINDING_TEXT = 160;

function clip(text: string): string {
  const t = (text.length > 4 * MAX_FINDING_TEXT ? text.slice(0, 4 * MAX_FINDING_TEXT) : text).replace(/\s+/g, ' ').trim();
  return t.length > MAX_FINDING_TEXT ? `${t.slice(0, MAX_FINDING_TEXT)}…` : t;
}

/**
 * Splits stdout into JSON records, one JSON.parse per non-blank line; any
 * other line, a non-zero exit, a timeout or output that did not arrive whole
 * (its chunks against the result's byte count and SHA-256) becomes a finding
 * (its text clipped to MAX_FINDING_TEXT characters), never a throw.
 */
export function parseProbeOutput(phase: string, outcome: ExecOutcome): ParsedOutput {
  const findings: string[] = [];
  const records: ProbeRecord[] = [];
  if (outcome.transferProblem) findings.push(`${phase}: output not received whole: ${clip(outcome.transferProblem)}`);
  if (outcome.timedOut) findings.push(`${phase}: probe killed at the ${Math.round(outcome.elapsedMs)} ms timeout`);
  else if (outcome.exitCode !== 0)
    findings.push(`${phase}: probe exited with code ${outcome.exitCode}${outcome.stderr ? `: ${clip(outcome.stderr)}` : ''}`);
  const out = outcome.stdout;
  for (let start = 0, lineNo = 1; start < out.length; lineNo++) {
    let end = out.indexOf('\n', start);
    if (end < 0) end = out.length;
    const line = out.slice(start, end);
    start = end + 1;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      findings.push(`${phase}: output line ${lineNo} is not JSON: ${clip(line)}`);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
      findings.push(`${phase}: output line ${lineNo} is not a typed record: ${clip(line)}`);
      continue;
    }
    const rec = value as ProbeRecord;
    if (rec.type === 'error') findings.push(`${phase}: probe reported: ${clip(String(rec.message))}`);
    records.push(rec);
  }
  return { records, findings };
}

/** Typed field readers: on a wrong field they add a finding and return undefined. */
export class FieldReader {
  constructor(
    private readonly phase: string,
    private readonly findings: string[],
  ) {}

  int(rec: ProbeRecord, name: string, min: number, max: number): number | undefined {
    const v = rec[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.findings.push(`${this.phase}: ${rec.type}.${name} must be an integer in [${min}, ${max}], got ${clip(JSON.stringify(v) ?? 'nothing')}`);
      return undefined;
    }
    return v;
  }

  num(rec: ProbeRecord, name: string): number | undefined {
    const v = rec[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      this.findings.push(`${this.phase}: ${rec.type}.${name} must be a non-negative number`);
      return undefined;
    }
    return v;
  }

  hex(rec: ProbeRecord, name: string, bytes: number): Buffer | undefined {
    const v = rec[name];
    if (typeof v !== 'string' || v.length !== bytes * 2 || !/^[0-9a-f]*$/.test(v)) {
      this.findings.push(`${this.phase}: ${rec.type}.${name} must be ${bytes} bytes of lowercase hex`);
      return undefined;
    }
    return Buffer.from(v, 'hex');
  }

  base64(rec: ProbeRecord, name: string, expectedBytes?: number): Buffer | undefined {
    const v = rec[name];
    // Node's decoder skips characters outside the alphabet, so a foreign
    // character always shows up as a length mismatch below.
    if (typeof v !== 'string' || v.length % 4 !== 0) {
      this.findings.push(`${this.phase}: ${rec.type}.${name} is not canonical base64`);
      return undefined;
    }
    const b = Buffer.from(v, 'base64');
    if (b.length !== (v.length / 4) * 3 - (v.endsWith('==') ? 2 : v.endsWith('=') ? 1 : 0)) {
      this.findings.push(`${this.phase}: ${rec.type}.${name} is not canonical base64`);
      return undefined;
    }
    if (expectedBytes !== undefined && b.length !== expectedBytes) {
      this.findings.push(`${this.phase}: ${rec.type}.${name} holds ${b.length} bytes, expected ${expectedBytes}`);
      return undefined;
    }
    return b;
  }
}

/** The probe's own rusage line (for benchmarks; never trusted for verdicts). */
export function proverCpuMs(records: ProbeRecord[]): number | undefined {
  const r = records.find((x) => x.type === 'rusage');
  if (!r || typeof r.user_ms !== 'number' || typeof r.sys_ms !== 'number') return undefined;
  return r.user_ms + r.sys_ms;
}
