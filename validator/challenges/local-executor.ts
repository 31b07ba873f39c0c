/** Runs the probe on this host (benchmarks, local tests); the same contract as a miner's RunChallenge. */
import { execFile } from 'node:child_process';
import type { ChallengeExecutor, ExecOutcome } from './executor.js';

const MAX_OUTPUT = 1 << 30;

/** Runs the probe on this host (benchmarks, tests). No shell; killed at the timeout. */
export const localExecutor: ChallengeExecutor = (argv, opts) =>
  new Promise<ExecOutcome>((resolve) => {
    const [file, ...args] = argv;
    const started = performance.now();
    if (!file) {
      resolve({ exitCode: 2, stdout: '', stderr: 'empty argv', samples: [], elapsedMs: 0, timedOut: false });
      return;
    }
    const child = execFile(
      file,
      args,
      { encoding: 'utf8', maxBuffer: MAX_OUTPUT, timeout: opts.timeoutMs, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const elapsedMs = performance.now() - started;
        const err = error as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        const timedOut = Boolean(err?.killed) && elapsedMs >= opts.timeoutMs - 5;
        const exitCode = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ exitCode, stdout, stderr: stderr || (err && !stdout ? String(err.message) : ''), samples: [], elapsedMs, timedOut });
      },
    );
    if (opts.stdin) child.stdin?.end(opts.stdin);
    else child.stdin?.end();
  });
