/** Figures the fault suite prints: one line each, indented under the test that measured them. */

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** The p-th percentile (0–100) by nearest rank. */
export function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export function figure(name: string, values: Record<string, number | string>): void {
  const text = Object.entries(values)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(1)) : v}`)
    .join(' ');
  console.log(`      figure ${name}: ${text}`);
}

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith('VmRSS:'));
  if (!line) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(line.split(/\s+/)[1]) * 1024;
}

/** Runs `tasks` with at most `limit` in flight; returns each one's milliseconds and error, in order. */
export async function timedPool(limit: number, tasks: (() => Promise<unknown>)[]): Promise<{ ms: number; error?: unknown }[]> {
  const out: { ms: number; error?: unknown }[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      const t0 = performance.now();
      try {
        await tasks[i]!();
        out[i] = { ms: performance.now() - t0 };
      } catch (error) {
        out[i] = { ms: performance.now() - t0, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return out;
}
