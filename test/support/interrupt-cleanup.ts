/**
 * Cleanup that also runs when a benchmark or harness is interrupted
 * (SIGINT from Ctrl-C, SIGTERM from `timeout`, SIGHUP): `finally` blocks do
 * not run when a signal ends the process, so containers, networks, miner
 * processes and busy loops would be left behind.
 *
 *   const done = onInterrupt('miner', async () => { await miner.stop(); await removeResources(miner.prefix); });
 *   try { ... } finally { await done(); }
 */
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
const tasks = new Map<number, { what: string; run: () => Promise<void> | void }>();
let nextId = 0;
let installed = false;
let interrupted = false;
let interruptedAt = 0;

/** How long one task may take once interrupted, so a second signal is never needed. */
const TASK_TIMEOUT_MS = 20_000;

async function runAll(signal: keyof typeof SIGNALS): Promise<never> {
  interrupted = true;
  console.error(`\n${signal}: cleaning up (${[...tasks.values()].map((t) => t.what).join(', ') || 'nothing registered'})`);
  // Newest first, as nested finally blocks would.
  for (const [id, task] of [...tasks.entries()].reverse()) {
    tasks.delete(id);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(() => (console.error(`  ${task.what}: gave up after ${TASK_TIMEOUT_MS} ms`), resolve()), TASK_TIMEOUT_MS)));
    await Promise.race([Promise.resolve().then(task.run).catch((err: unknown) => console.error(`  ${task.what}: ${(err as Error).message ?? err}`)), timeout]);
    clearTimeout(timer);
  }
  process.exit(128 + SIGNALS[signal]);
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]) {
    process.on(signal, () => {
      // `timeout`, npx and tsx each pass the signal on, so copies arrive together; a
      // second one a moment later is a user insisting: leave now.
      if (interrupted) {
        if (Date.now() - interruptedAt > 1000) process.exit(128 + SIGNALS[signal]);
        return;
      }
      interruptedAt = Date.now();
      void runAll(signal);
    });
  }
}

/**
 * Registers `run` to be called if the process is interrupted. Returns a
 * function that runs it now (at most once) and unregisters it: call that
 * from the normal path's `finally`.
 */
export function onInterrupt(what: string, run: () => Promise<void> | void): () => Promise<void> {
  install();
  const id = nextId++;
  tasks.set(id, { what, run });
  return async () => {
    if (!tasks.delete(id)) return;
    await run();
  };
}

/**
 * Like onInterrupt, for what the normal path cleans up its own way: the
 * returned function only unregisters `run`.
 */
export function whenInterrupted(what: string, run: () => Promise<void> | void): () => void {
  install();
  const id = nextId++;
  tasks.set(id, { what, run });
  return () => void tasks.delete(id);
}

/**
 * Ends the process with `code`, unless a signal's cleanup is under way: work
 * it pulled from under the script fails then, and must not cut it short.
 */
export function exitUnlessInterrupted(code: number): void {
  if (!interrupted) process.exit(code);
}

/** True once a signal started the cleanup: loops can stop starting new work. */
export function isInterrupted(): boolean {
  return interrupted;
}
