/**
 * A challenge's network traffic, for the store and the report. Samples count
 * bytes and packets since their own command started, so each call's last
 * sample holds that call's traffic and the challenge's is their sum. The
 * totals go into the challenge's details (stored as JSON, shown by the
 * report); each sample's counters are stored with it (schema version 4).
 */
import type { SampleRecord } from '../round-types.js';

export interface NetworkTraffic {
  receivedBytes: number;
  sentBytes: number;
  receivedPackets: number;
  sentPackets: number;
}

/** The samples split into calls: a new call begins where `elapsedUs` does not increase or the phase changes. */
export function splitCalls(samples: readonly SampleRecord[]): SampleRecord[][] {
  const calls: SampleRecord[][] = [];
  let previous: SampleRecord | undefined;
  for (const s of samples) {
    if (!previous || s.elapsedUs <= previous.elapsedUs || s.phase !== previous.phase) calls.push([]);
    calls.at(-1)!.push(s);
    previous = s;
  }
  return calls;
}

/** The traffic of every call summed; undefined when no sample carries network counters (an older miner or client). */
export function networkTraffic(samples: readonly SampleRecord[]): NetworkTraffic | undefined {
  if (!samples.some((s) => s.netRxBytes !== undefined)) return undefined;
  const sum: NetworkTraffic = { receivedBytes: 0, sentBytes: 0, receivedPackets: 0, sentPackets: 0 };
  for (const call of splitCalls(samples)) {
    const last = call.at(-1)!;
    sum.receivedBytes += last.netRxBytes ?? 0;
    sum.sentBytes += last.netTxBytes ?? 0;
    sum.receivedPackets += last.netRxPackets ?? 0;
    sum.sentPackets += last.netTxPackets ?? 0;
  }
  return sum;
}

/** The details to store: with `network` added when the samples carry counters. */
export function detailsWithNetwork(details: Record<string, unknown>, samples: readonly SampleRecord[]): Record<string, unknown> {
  const network = networkTraffic(samples);
  return network && details.network === undefined ? { ...details, network } : details;
}
