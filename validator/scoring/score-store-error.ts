/** The error every score database failure becomes: it names the file, the problem and what to do. */
import Database from 'better-sqlite3';
import { errorMessage } from '../../common/errors.js';

export type ScoreStoreProblem = 'corrupt' | 'locked' | 'directory' | 'unwritable' | 'newer-schema' | 'foreign' | 'unknown-round' | 'io';

export class ScoreStoreError extends Error {
  constructor(
    readonly path: string,
    readonly problem: ScoreStoreProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`score database ${path}: ${message}`, options);
    this.name = 'ScoreStoreError';
  }
}

const sqliteCode = (err: unknown): string => (err instanceof Database.SqliteError ? err.code : '');

/** Turns an SQLite failure into an error naming the file and what to do. */
export function explain(path: string, err: unknown, busyTimeoutMs: number): Error {
  if (err instanceof ScoreStoreError) return err;
  const code = sqliteCode(err);
  const detail = errorMessage(err);
  if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) {
    return new ScoreStoreError(
      path,
      'corrupt',
      `corrupt or not an SQLite database (${detail}). It was left untouched: move it aside (keep it for inspection) ` +
        'or restore a backup; a fresh database is created at this path on the next start.',
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new ScoreStoreError(
      path,
      'locked',
      `locked by another process (${detail}, after waiting ${busyTimeoutMs} ms). ` +
        'Is another validator using this database? Stop it, or set validator.database to another file.',
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM')) {
    return new ScoreStoreError(path, 'unwritable', `cannot open or write it (${detail}); check the path and its permissions.`, {
      cause: err,
    });
  }
  if (code.startsWith('SQLITE_FULL') || code.startsWith('SQLITE_IOERR')) {
    return new ScoreStoreError(path, 'io', `input/output failure (${detail}); check the disk (space, health).`, { cause: err });
  }
  return err instanceof Error ? err : new Error(detail);
}
