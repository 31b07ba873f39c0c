/**
 * The score database's schema. Its version lives in `PRAGMA user_version`;
 * MIGRATIONS[v] takes a database from version v to v + 1, each in its own
 * transaction.
 */
import type Database from 'better-sqlite3';
import { ScoreStoreError } from './score-store-error.js';

export const MIGRATIONS: readonly string[] = [
  // 1: the initial schema.
  `
  CREATE TABLE rounds (
    id          INTEGER PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
  );
  CREATE TABLE miner_rounds (
    id                   INTEGER PRIMARY KEY,
    round_id             INTEGER NOT NULL REFERENCES rounds(id),
    miner                TEXT NOT NULL,
    address              TEXT NOT NULL,
    started_at           INTEGER NOT NULL,
    finished_at          INTEGER NOT NULL,
    claimed_cpu_count    INTEGER NOT NULL,
    claimed_memory_bytes INTEGER NOT NULL,
    compute              REAL NOT NULL,
    memory               REAL NOT NULL,
    rental               REAL NOT NULL,
    metrics              REAL NOT NULL,
    round_score          REAL NOT NULL,
    ema                  REAL NOT NULL,
    error                TEXT,
    UNIQUE (round_id, miner)
  );
  CREATE INDEX miner_rounds_by_miner ON miner_rounds (miner, round_id);
  CREATE TABLE challenges (
    id             INTEGER PRIMARY KEY,
    miner_round_id INTEGER NOT NULL REFERENCES miner_rounds(id),
    seq            INTEGER NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('compute', 'memory')),
    step           TEXT NOT NULL CHECK (step IN ('commit', 'open')),
    passed         INTEGER NOT NULL,
    elapsed_ms     REAL NOT NULL,
    deadline_ms    REAL,
    details        TEXT NOT NULL,
    UNIQUE (miner_round_id, seq)
  );
  CREATE TABLE samples (
    challenge_id INTEGER NOT NULL REFERENCES challenges(id),
    seq          INTEGER NOT NULL,
    phase        TEXT NOT NULL,
    elapsed_us   INTEGER NOT NULL,
    cpu_usage    REAL NOT NULL,
    cpu_time_ns  INTEGER NOT NULL,
    memory_usage INTEGER NOT NULL,
    memory_limit INTEGER NOT NULL,
    pids         INTEGER NOT NULL,
    PRIMARY KEY (challenge_id, seq)
  ) WITHOUT ROWID;
  CREATE TABLE findings (
    id             INTEGER PRIMARY KEY,
    miner_round_id INTEGER NOT NULL REFERENCES miner_rounds(id),
    challenge_id   INTEGER REFERENCES challenges(id),
    text           TEXT NOT NULL
  );
  CREATE INDEX findings_by_miner_round ON findings (miner_round_id);
  CREATE TABLE scores (
    miner         TEXT PRIMARY KEY,
    ema           REAL NOT NULL,
    rounds        INTEGER NOT NULL,
    last_score    REAL NOT NULL,
    last_round_id INTEGER NOT NULL REFERENCES rounds(id),
    last_round_at INTEGER NOT NULL
  );
  `,
  // 2: findings carry a reason code and their figures; a round records whether the miner lied.
  // Rows from version 1 stored each challenge finding twice (once without its challenge): keep one.
  `
  ALTER TABLE findings ADD COLUMN code TEXT NOT NULL DEFAULT 'unclassified';
  ALTER TABLE findings ADD COLUMN figures TEXT;
  ALTER TABLE miner_rounds ADD COLUMN lie INTEGER NOT NULL DEFAULT 0;
  DELETE FROM findings WHERE challenge_id IS NULL AND EXISTS (
    SELECT 1 FROM findings g WHERE g.miner_round_id = findings.miner_round_id AND g.challenge_id IS NOT NULL AND g.text = findings.text);
  `,
  // 3: each miner's offer (its last GetCapacity) and the capacity last proven; weights follow the proven part.
  `
  ALTER TABLE scores ADD COLUMN offered_cpus REAL;
  ALTER TABLE scores ADD COLUMN free_cpus REAL;
  ALTER TABLE scores ADD COLUMN offered_memory_bytes INTEGER;
  ALTER TABLE scores ADD COLUMN free_memory_bytes INTEGER;
  ALTER TABLE scores ADD COLUMN proven_cores REAL NOT NULL DEFAULT 0;
  ALTER TABLE scores ADD COLUMN proven_memory_bytes INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE miner_rounds ADD COLUMN capacity TEXT;
  `,
  // 4: each sample's container network traffic since its command started, and the host steal the miner reported (NULL: not sent).
  `
  ALTER TABLE samples ADD COLUMN net_rx_bytes INTEGER;
  ALTER TABLE samples ADD COLUMN net_tx_bytes INTEGER;
  ALTER TABLE samples ADD COLUMN net_rx_packets INTEGER;
  ALTER TABLE samples ADD COLUMN net_tx_packets INTEGER;
  ALTER TABLE samples ADD COLUMN host_steal_percent REAL;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Applies the missing migrations in order, each in an immediate transaction. */
export function migrate(file: string, db: Database.Database): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number;
  const found = version();
  if (found > MIGRATIONS.length) {
    throw new ScoreStoreError(
      file,
      'newer-schema',
      `has schema version ${found}, newer than this validator knows (${MIGRATIONS.length}). Upgrade the validator, or point validator.database elsewhere.`,
    );
  }
  const step = db.transaction((): boolean => {
    const current = version(); // re-read under the write lock: another process may have migrated
    if (current >= MIGRATIONS.length) return false;
    if (current === 0) {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
      if (tables.length > 0) {
        throw new ScoreStoreError(
          file,
          'foreign',
          `holds tables (${tables.map((t) => t.name).join(', ')}) but no Polarise schema version: it is not a score database. ` +
            'Set validator.database to another file.',
        );
      }
    }
    db.exec(MIGRATIONS[current]!);
    db.pragma(`user_version = ${current + 1}`);
    return true;
  });
  if (found < MIGRATIONS.length) while (step.immediate());
}
