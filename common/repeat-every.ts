/**
 * A background task run `intervalMs` after its previous run ended, so two
 * runs never overlap, until stopped. A failed run is reported and the next
 * one still comes. The timer never keeps the process alive.
 */
export interface Repeating {
  stop(): void;
}

export function repeatEvery(intervalMs: number, task: () => Promise<void>, onError: (err: unknown) => void): Repeating {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void task().catch(onError).finally(schedule), intervalMs);
    timer.unref();
  };
  schedule();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
