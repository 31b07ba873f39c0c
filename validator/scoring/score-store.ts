/**
 * The validator's history: an embedded SQLite database (WAL mode) holding
 * rounds, per-miner round results, challenges, samples, findings and each
 * miner's moving-average score. The schema version lives in
 * `PRAGMA user_version`; MIGRATIONS[v] takes a database from version v to
 * v + 1, each in its own transaction.
 *
 * A file that is corrupt, not SQLite, a directory, another program's
 * database, newer than this code, or locked by another process gives a
 * ScoreStoreError naming the file and what to do. The file is never
 * re-initialised or written over.
 */
import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FINDING_CODES, type Finding, type FindingCode } from '../findings.js';
import type { ChallengeRecord, MinerRoundResult, Phase, SampleRecord } from '../round-types.js';
import { updateEma } from './scoring.js';

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
];

export const SCHEMA_VERSION = MIGRATIONS.length;

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

export interface CurrentScore {
  miner: string;
  ema: number;
  rounds: number;
  lastScore: number;
  lastRoundAt: Date;
}

export interface StoredMinerRound extends MinerRoundResult {
  roundId: number;
  /** The miner's moving average after this round. */
  ema: number;
}

export interface StoredRound {
  id: number;
  startedAt: Date;
  finishedAt?: Date;
  /** Ordered by miner name. */
  miners: StoredMinerRound[];
}

export interface ScorePoint {
  roundId: number;
  at: Date;
  score: number;
  ema: number;
}

export interface ScoreStoreOptions {
  /** How long a write waits for another process's lock before failing. */
  busyTimeoutMs?: number;
}

interface MinerRoundRow {
  id: number;
  round_id: number;
  miner: string;
  address: string;
  started_at: number;
  finished_at: number;
  claimed_cpu_count: number;
  claimed_memory_bytes: number;
  compute: number;
  memory: number;
  rental: number;
  metrics: number;
  round_score: number;
  ema: number;
  error: string | null;
  lie: number;
}

interface FindingRow {
  challenge_id: number | null;
  code: string;
  text: string;
  figures: string | null;
}

const FINDING_CODE_SET = new Set<string>(FINDING_CODES);

function findingOf(row: FindingRow): Finding {
  const code = FINDING_CODE_SET.has(row.code) ? (row.code as FindingCode) : 'unclassified';
  return row.figures === null ? { code, message: row.text } : { code, message: row.text, figures: JSON.parse(row.figures) as Record<string, number> };
}

interface ChallengeRow {
  id: number;
  kind: ChallengeRecord['kind'];
  step: ChallengeRecord['step'];
  passed: number;
  elapsed_ms: number;
  deadline_ms: number | null;
  details: string;
}

interface SampleRow {
  phase: Phase;
  elapsed_us: number;
  cpu_usage: number;
  cpu_time_ns: number;
  memory_usage: number;
  memory_limit: number;
  pids: number;
}

const sqliteCode = (err: unknown): string => (err instanceof Database.SqliteError ? err.code : '');

/** Turns an SQLite failure into an error naming the file and what to do. */
function explain(path: string, err: unknown, busyTimeoutMs: number): Error {
  if (err instanceof ScoreStoreError) return err;
  const code = sqliteCode(err);
  const detail = err instanceof Error ? err.message : String(err);
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

function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export class ScoreStore {
  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
    private readonly busyTimeoutMs: number,
  ) {}

  /** Opens (creating if missing, with its parent folder) and migrates the database at `path`. */
  static open(path: string, options: ScoreStoreOptions = {}): ScoreStore {
    const file = resolve(path);
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
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
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { timeout: busyTimeoutMs });
      checkIntegrity(file, db);
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      db.pragma('synchronous = NORMAL');
      migrate(file, db);
      return new ScoreStore(file, db, busyTimeoutMs);
    } catch (err) {
      db?.close();
      throw explain(file, err, busyTimeoutMs);
    }
  }

  /** The schema version of the open database (equal to SCHEMA_VERSION). */
  schemaVersion(): number {
    return this.guard(() => this.db.pragma('user_version', { simple: true }) as number);
  }

  startRound(startedAt: Date): number {
    return this.guard(() => Number(this.db.prepare('INSERT INTO rounds (started_at) VALUES (?)').run(startedAt.getTime()).lastInsertRowid));
  }

  finishRound(roundId: number, finishedAt: Date): void {
    this.guard(() => {
      const { changes } = this.db.prepare('UPDATE rounds SET finished_at = ? WHERE id = ?').run(finishedAt.getTime(), roundId);
      if (changes === 0) throw new ScoreStoreError(this.path, 'unknown-round', `no round ${roundId} to finish.`);
    });
  }

  /**
   * Stores one miner's round result (challenges, samples, findings) and folds
   * its round score into the miner's moving average, all in one transaction.
   */
  recordMinerRound(roundId: number, result: MinerRoundResult, alpha: number): { ema: number } {
    const db = this.db;
    const write = db.transaction((): { ema: number } => {
      if (!db.prepare('SELECT 1 FROM rounds WHERE id = ?').get(roundId)) {
        throw new ScoreStoreError(this.path, 'unknown-round', `no round ${roundId}; call startRound first.`);
      }
      const previous = db.prepare('SELECT ema FROM scores WHERE miner = ?').get(result.miner) as { ema: number } | undefined;
      const ema = updateEma(previous?.ema, result.roundScore, alpha);
      const c = result.components;
      const minerRoundId = Number(
        db
          .prepare(
            `INSERT INTO miner_rounds (round_id, miner, address, started_at, finished_at, claimed_cpu_count, claimed_memory_bytes,
               compute, memory, rental, metrics, round_score, ema, error, lie)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            roundId,
            result.miner,
            result.address,
            result.startedAt.getTime(),
            result.finishedAt.getTime(),
            result.claimed.cpuCount,
            result.claimed.memoryBytes,
            c.compute,
            c.memory,
            c.rental,
            c.metrics,
            result.roundScore,
            ema,
            result.error ?? null,
            result.lie ? 1 : 0,
          ).lastInsertRowid,
      );
      const insertChallenge = db.prepare(
        `INSERT INTO challenges (miner_round_id, seq, kind, step, passed, elapsed_ms, deadline_ms, details)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insertSample = db.prepare(
        `INSERT INTO samples (challenge_id, seq, phase, elapsed_us, cpu_usage, cpu_time_ns, memory_usage, memory_limit, pids)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insert = db.prepare('INSERT INTO findings (miner_round_id, challenge_id, code, text, figures) VALUES (?, ?, ?, ?, ?)');
      const insertFinding = (challengeId: number | null, f: Finding) =>
        insert.run(minerRoundId, challengeId, f.code, f.message, f.figures ? JSON.stringify(f.figures) : null);
      for (const f of result.findings) insertFinding(null, f);
      result.challenges.forEach((ch, seq) => {
        const challengeId = Number(
          insertChallenge.run(minerRoundId, seq, ch.kind, ch.step, ch.passed ? 1 : 0, ch.elapsedMs, ch.deadlineMs ?? null, toJson(ch.details))
            .lastInsertRowid,
        );
        ch.samples.forEach((s, i) =>
          insertSample.run(challengeId, i, s.phase, s.elapsedUs, s.cpuUsage, s.cpuTimeNs, s.memoryUsage, s.memoryLimit, s.pids),
        );
        for (const f of ch.findings) insertFinding(challengeId, f);
      });
      db.prepare(
        `INSERT INTO scores (miner, ema, rounds, last_score, last_round_id, last_round_at) VALUES (?, ?, 1, ?, ?, ?)
         ON CONFLICT (miner) DO UPDATE SET ema = excluded.ema, rounds = rounds + 1, last_score = excluded.last_score,
           last_round_id = excluded.last_round_id, last_round_at = excluded.last_round_at`,
      ).run(result.miner, ema, result.roundScore, roundId, result.finishedAt.getTime());
      return { ema };
    });
    return this.guard(() => write.immediate());
  }

  /** Every miner's standing score, by miner name. */
  currentScores(): CurrentScore[] {
    return this.guard(() =>
      (
        this.db.prepare('SELECT miner, ema, rounds, last_score, last_round_at FROM scores ORDER BY miner').all() as Array<{
          miner: string;
          ema: number;
          rounds: number;
          last_score: number;
          last_round_at: number;
        }>
      ).map((r) => ({ miner: r.miner, ema: r.ema, rounds: r.rounds, lastScore: r.last_score, lastRoundAt: new Date(r.last_round_at) })),
    );
  }

  /** The newest `limit` rounds, newest first, with every miner's result, challenges, samples and findings. */
  recentRounds(limit: number): StoredRound[] {
    const db = this.db;
    const read = db.transaction((): StoredRound[] => {
      const rounds = db.prepare('SELECT id, started_at, finished_at FROM rounds ORDER BY id DESC LIMIT ?').all(limit) as Array<{
        id: number;
        started_at: number;
        finished_at: number | null;
      }>;
      const minerRounds = db.prepare('SELECT * FROM miner_rounds WHERE round_id = ? ORDER BY miner');
      const challenges = db.prepare(
        'SELECT id, kind, step, passed, elapsed_ms, deadline_ms, details FROM challenges WHERE miner_round_id = ? ORDER BY seq',
      );
      const samples = db.prepare(
        `SELECT phase, elapsed_us, cpu_usage, cpu_time_ns, memory_usage, memory_limit, pids
         FROM samples WHERE challenge_id = ? ORDER BY seq`,
      );
      const findings = db.prepare('SELECT challenge_id, code, text, figures FROM findings WHERE miner_round_id = ? ORDER BY id');
      return rounds.map((round) => ({
        id: round.id,
        startedAt: new Date(round.started_at),
        ...(round.finished_at === null ? {} : { finishedAt: new Date(round.finished_at) }),
        miners: (minerRounds.all(round.id) as MinerRoundRow[]).map((mr) => {
          const found = findings.all(mr.id) as FindingRow[];
          const records = (challenges.all(mr.id) as ChallengeRow[]).map(
            (ch): ChallengeRecord => ({
              kind: ch.kind,
              step: ch.step,
              passed: ch.passed === 1,
              elapsedMs: ch.elapsed_ms,
              ...(ch.deadline_ms === null ? {} : { deadlineMs: ch.deadline_ms }),
              findings: found.filter((f) => f.challenge_id === ch.id).map(findingOf),
              details: JSON.parse(ch.details) as Record<string, unknown>,
              samples: (samples.all(ch.id) as SampleRow[]).map(
                (s): SampleRecord => ({
                  phase: s.phase,
                  elapsedUs: s.elapsed_us,
                  cpuUsage: s.cpu_usage,
                  cpuTimeNs: s.cpu_time_ns,
                  memoryUsage: s.memory_usage,
                  memoryLimit: s.memory_limit,
                  pids: s.pids,
                }),
              ),
            }),
          );
          return {
            roundId: mr.round_id,
            miner: mr.miner,
            address: mr.address,
            startedAt: new Date(mr.started_at),
            finishedAt: new Date(mr.finished_at),
            claimed: { cpuCount: mr.claimed_cpu_count, memoryBytes: mr.claimed_memory_bytes },
            components: { compute: mr.compute, memory: mr.memory, rental: mr.rental, metrics: mr.metrics },
            roundScore: mr.round_score,
            ema: mr.ema,
            findings: found.filter((f) => f.challenge_id === null).map(findingOf),
            challenges: records,
            ...(mr.error === null ? {} : { error: mr.error }),
            ...(mr.lie ? { lie: true } : {}),
          };
        }),
      }));
    });
    return this.guard(() => read.deferred());
  }

  /** One miner's round scores and moving average, oldest first. */
  scoreHistory(miner: string): ScorePoint[] {
    return this.guard(() =>
      (
        this.db
          .prepare('SELECT round_id, finished_at, round_score, ema FROM miner_rounds WHERE miner = ? ORDER BY round_id')
          .all(miner) as Array<{ round_id: number; finished_at: number; round_score: number; ema: number }>
      ).map((r) => ({ roundId: r.round_id, at: new Date(r.finished_at), score: r.round_score, ema: r.ema })),
    );
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (err) {
      throw explain(this.path, err, this.busyTimeoutMs);
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

/** Applies the missing migrations in order, each in an immediate transaction. */
function migrate(file: string, db: Database.Database): void {
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
