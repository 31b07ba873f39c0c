/**
 * Opening the score database (SQLite, WAL mode). A file that is corrupt, not
 * SQLite, a directory, another program's database, newer than this code, or
 * locked by another process gives a ScoreStoreError naming the file and what
 * to do. The file is never re-initialised or written over.
 */
import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrate } from './score-schema.js';
import { ScoreStoreError, explain } from './score-store-error.js';

/** Opens (creating if missing, with its parent folder) and migrates the database at the absolute path `file`. */
export function openScoreDatabase(file: string, busyTimeoutMs: number): Database.Database {
  checkLocation(file);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: busyTimeoutMs });
    checkIntegrity(file, db);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    migrate(file, db);
    return db;
  } catch (err) {
    db?.close();
    throw explain(file, err, busyTimeoutMs);
  }
}

/** Refuses a directory or an unreachable path; creates the parent folder of a missing file. */
function checkLocation(file: string): void {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    throw new ScoreStoreError(file, 'unwritable', `cannot reach it (${(err as Error).message}); check the path and its permissions.`, { cause: err });
  }
  if (stat?.isDirectory()) {
    throw new ScoreStoreError(file, 'directory', 'is a directory, not a database file. Remove or rename it, or set validator.database to a file path.');
  }
  if (!stat) {
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (err) {
      throw new ScoreStoreError(file, 'unwritable', `cannot create its folder ${dirname(file)} (${(err as Error).message}).`, { cause: err });
    }
  }
}

/** Refuses a damaged file before anything is written to it. */
function checkIntegrity(file: string, db: Database.Database): void {
  const result = db.pragma('quick_check(1)', { simple: true });
  if (result !== 'ok') {
    throw new ScoreStoreError(
      file,
      'corrupt',
      `failed its integrity check (${String(result)}). It was left untouched: move it aside (keep it for inspection) ` +
        'or restore a backup; a fresh database is created at this path on the next start.',
    );
  }
}
