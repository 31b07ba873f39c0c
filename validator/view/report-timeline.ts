/**
 * One challenge's CPU and memory charts. A challenge is several calls into
 * the container (a no-op, commits, opens, walks), and each sample's
 * `elapsedUs` counts from the start of its own call; so the samples are split
 * back into calls and the calls are laid out one after another on one
 * timeline, each drawn as its own segment, with a small gap between them.
 * When the samples carry network counters (miners of contract 1.2.0 on), a
 * third chart shows the container's traffic since each call started.
 */
import type { ChallengeRecord, Phase, SampleRecord } from '../round-types.js';
import { lineChart, niceCeil, roundTicks, type Band, type Point } from './report-chart.js';
import { trim } from './html.js';
import { splitCalls } from '../scoring/sample-network.js';

export { splitCalls };

const KiB = 1024;
const MiB = 1024 * 1024;
const COLORS = { cpu: '#d97706', memory: '#2563eb', limit: '#9ca3af', received: '#059669', sent: '#7c3aed' };
/** The gap between two calls on the timeline, as a share of all calls' time together. */
const GAP_SHARE = 0.03;

/** One call's samples, placed on the timeline: sample time is `offsetS + elapsedUs / 1e6`. */
export interface CallSegment {
  phase: Phase;
  /** Where the call starts on the timeline (s). */
  offsetS: number;
  /** Where its last sample lies on the timeline (s). */
  endS: number;
  samples: SampleRecord[];
}

/** The calls laid out end to end: each starts where the previous one's last sample was, plus a small gap. */
export function callTimeline(samples: readonly SampleRecord[]): CallSegment[] {
  const calls = splitCalls(samples);
  const durationS = (call: SampleRecord[]) => Math.max(0, call.at(-1)!.elapsedUs / 1e6);
  const total = calls.reduce((t, call) => t + durationS(call), 0);
  const gap = total > 0 ? total * GAP_SHARE : 0.05;
  const segments: CallSegment[] = [];
  let offsetS = 0;
  for (const call of calls) {
    const endS = offsetS + durationS(call);
    segments.push({ phase: call[0]!.phase, offsetS, endS, samples: call });
    offsetS = endS + gap;
  }
  return segments;
}

const stepOf = (phase: Phase): string => phase.replace(/^(compute|memory)-/, '');

function callTitles(segments: readonly CallSegment[]): string[] {
  return segments.map((seg, i) => `call ${i + 1} of ${segments.length} (${seg.phase}): ${trim(seg.endS - seg.offsetS)} s, ${seg.samples.length} sample(s)`);
}

const along = (segments: readonly CallSegment[], value: (s: SampleRecord) => number): Point[][] =>
  segments.map((seg) => seg.samples.map((s) => [seg.offsetS + s.elapsedUs / 1e6, value(s)] as const));

const X_LABEL = 'time in each call, calls one after another (s)';

export function challengeCharts(ch: ChallengeRecord, claimedCpus: number): string {
  const segments = callTimeline(ch.samples);
  const end = segments.at(-1)?.endS ?? ch.elapsedMs / 1000;
  const xTicks = roundTicks(end);
  const xMax = xTicks.at(-1)!;
  const titles = callTitles(segments);
  const bands: Band[] = segments.map((seg) => ({ start: seg.offsetS, end: seg.endS, label: stepOf(seg.phase) }));
  const cpu = along(segments, (s) => s.cpuUsage);
  const memory = along(segments, (s) => s.memoryUsage / MiB);
  const limitMiB = Math.max(0, ...ch.samples.map((s) => s.memoryLimit / MiB));
  const name = `${ch.kind} ${ch.step}`;
  const cpuChart = lineChart({
    title: `${name}: CPU`,
    xLabel: X_LABEL,
    yLabel: 'CPU (% of one core)',
    xMax,
    xTicks,
    bands,
    yMax: niceCeil(Math.max(100, claimedCpus * 100, ...ch.samples.map((s) => s.cpuUsage))),
    yFormat: (v) => `${trim(v)}%`,
    series: [
      { label: 'CPU use', color: COLORS.cpu, segments: cpu, titles },
      { label: `claimed (${claimedCpus} ${claimedCpus === 1 ? 'core' : 'cores'})`, color: COLORS.limit, dashed: true, segments: segments.length ? [[[0, claimedCpus * 100], [xMax, claimedCpus * 100]]] : [] },
    ],
  });
  const memoryChart = lineChart({
    title: `${name}: memory`,
    xLabel: X_LABEL,
    yLabel: 'memory (MiB)',
    xMax,
    xTicks,
    bands,
    yMax: niceCeil(Math.max(1, limitMiB, ...ch.samples.map((s) => s.memoryUsage / MiB))),
    series: [
      { label: 'memory in use', color: COLORS.memory, segments: memory, titles },
      { label: 'limit', color: COLORS.limit, dashed: true, segments: limitMiB > 0 ? [[[0, limitMiB], [xMax, limitMiB]]] : [] },
    ],
  });
  return cpuChart + memoryChart + networkChart(name, segments, { xMax, xTicks, bands, titles });
}

interface Axis {
  xMax: number;
  xTicks: number[];
  bands: Band[];
  titles: string[];
}

/** Bytes received and sent by the container since each call started; nothing when no sample carries the counters. */
function networkChart(name: string, segments: readonly CallSegment[], axis: Axis): string {
  if (!segments.some((seg) => seg.samples.some((s) => s.netRxBytes !== undefined))) return '';
  const received = along(segments, (s) => (s.netRxBytes ?? 0) / KiB);
  const sent = along(segments, (s) => (s.netTxBytes ?? 0) / KiB);
  const most = Math.max(1, ...[...received, ...sent].flat().map(([, v]) => v));
  return lineChart({
    title: `${name}: network`,
    xLabel: X_LABEL,
    yLabel: 'traffic since the call started (KiB)',
    ...axis,
    yMax: niceCeil(most),
    series: [
      { label: 'received', color: COLORS.received, segments: received, titles: axis.titles },
      { label: 'sent', color: COLORS.sent, segments: sent, titles: axis.titles },
    ],
  });
}
