/**
 * The validator's history: an embedded SQLite database (WAL mode) holding
 * rounds, per-miner round results, challenges, samples, findings and each
 * miner's moving-average score. The schema and its migrations are in
 * score-schema.ts; opening, and the checks that refuse a file that is not
 * this validator's score database, in open-score-database.ts.
 */
import type Database from 'better-sqlite3';
import { resolve } from 'node:path';
import type { Finding } from '../findings.js';
import type { ChallengeRecord, MinerRoundResult, RoundCapacity } from '../round-types.js';
import { openScoreDatabase } from './open-score-database.js';
import {
  challengeOf,
  currentScoreOf,
  minerRoundOf,
  roundOf,
  sampleOf,
  scorePointOf,
  type ChallengeRow,
  type CurrentScoreRow,
  type FindingRow,
  type MinerRoundRow,
  type RoundRow,
  type SampleRow,
  type ScorePointRow,
} from './score-rows.js';
import { ScoreStoreError, explain } from './score-store-error.js';
import { updateEma } from './scoring.js';
import { detailsWithNetwork } from './sample-network.js';
import type { Proven } from './capacity-credit.js';
import { recentBest } from './capacity-standing.js';

/** Light rounds between full ones (an hour's window of 5-minute rounds is 12) are read past, up to this many per full round. */
const RECENT_ROUNDS_PER_FULL = 64;

export { MIGRATIONS, SCHEMA_VERSION } from './score-schema.js';
export { ScoreStoreError, type ScoreStoreProblem } from './score-store-error.js';

export interface CurrentScore {
  miner: string;
  /** The moving average of round scores: the miner's reliability. */
  ema: number;
  rounds: number;
  lastScore: number;
  lastRoundAt: Date;
  /** The last offer the miner stated (GetCapacity), when it stated one. */
  offeredCpus?: number;
  freeCpus?: number;
  offeredMemoryBytes?: number;
  freeMemoryBytes?: number;
  /** Capacity last proven (core-equivalents, bytes): 0 until a proof ran. */
  provenCores: number;
  provenMemoryBytes: number;
}

export interface CapacityHistory {
  firstRoundMs?: number;
  lastFullRoundMs?: number;
  /** The capacity standing: last proven, with credit for what renters held. */
  proven: Proven;
  /** The best of the recent full rounds that still count (capacity-standing.ts). */
  earlier: Proven;
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
    return new ScoreStore(file, openScoreDatabase(file, busyTimeoutMs), busyTimeoutMs);
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
      // A round with nothing free to rent is no evidence either way: the average stays.
      const ema = result.unscored ? (previous?.ema ?? 0) : updateEma(previous?.ema, result.roundScore, alpha);
      const minerRoundId = insertMinerRound(db, roundId, result, ema);
      const insertFindings = findingInserter(db, minerRoundId);
      insertFindings(null, result.findings);
      insertChallenges(db, minerRoundId, result.challenges, insertFindings);
      upsertScore(db, roundId, result, ema);
      return { ema };
    });
    return this.guard(() => write.immediate());
  }

  /** Every miner's standing score, by miner name. */
  currentScores(): CurrentScore[] {
    return this.guard(() =>
      (this.db.prepare(`SELECT miner, ema, rounds, last_score, last_round_at, offered_cpus, free_cpus, offered_memory_bytes, free_memory_bytes,
          proven_cores, proven_memory_bytes FROM scores ORDER BY miner`).all() as CurrentScoreRow[]).map(currentScoreOf),
    );
  }

  /**
   * When the miner's first round and its last full-capacity round started, the
   * capacity it has proven, and the best of its last `bestOf − 1` full rounds.
   */
  capacityHistory(miner: string, bestOf = 1): CapacityHistory {
    return this.guard(() => {
      const times = this.db
        .prepare(
          `SELECT min(started_at) AS first, max(CASE WHEN json_extract(capacity, '$.kind') = 'full' THEN started_at END) AS lastFull
           FROM miner_rounds WHERE miner = ?`,
        )
        .get(miner) as { first: number | null; lastFull: number | null };
      const proven = this.db.prepare('SELECT proven_cores, proven_memory_bytes FROM scores WHERE miner = ?').get(miner) as
        | { proven_cores: number; proven_memory_bytes: number }
        | undefined;
      return {
        firstRoundMs: times.first ?? undefined,
        lastFullRoundMs: times.lastFull ?? undefined,
        proven: { cores: proven?.proven_cores ?? 0, memoryBytes: proven?.proven_memory_bytes ?? 0 },
        earlier: recentBest(this.recentCapacities(miner, bestOf), bestOf),
      };
    });
  }

  /** The capacity records of the miner's newest rounds, newest first: enough to find `bestOf − 1` full rounds among light ones. */
  private recentCapacities(miner: string, bestOf: number): RoundCapacity[] {
    if (bestOf <= 1) return [];
    const rows = this.db
      .prepare('SELECT capacity FROM miner_rounds WHERE miner = ? AND capacity IS NOT NULL ORDER BY id DESC LIMIT ?')
      .all(miner, RECENT_ROUNDS_PER_FULL * bestOf) as { capacity: string }[];
    return rows.map((r) => JSON.parse(r.capacity) as RoundCapacity);
  }

  /** The newest `limit` rounds, newest first, with every miner's result, challenges, samples and findings. */
  recentRounds(limit: number): StoredRound[] {
    const db = this.db;
    const read = db.transaction((): StoredRound[] => {
      const rounds = db.prepare('SELECT id, started_at, finished_at FROM rounds ORDER BY id DESC LIMIT ?').all(limit) as RoundRow[];
      const readMinerRounds = minerRoundReader(db);
      return rounds.map((round) => roundOf(round, readMinerRounds(round.id)));
    });
    return this.guard(() => read.deferred());
  }

  /** One miner's round scores and moving average, oldest first. */
  scoreHistory(miner: string): ScorePoint[] {
    return this.guard(() =>
      (
        this.db
          .prepare('SELECT round_id, finished_at, round_score, ema FROM miner_rounds WHERE miner = ? ORDER BY round_id')
          .all(miner) as ScorePointRow[]
      ).map(scorePointOf),
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

function insertMinerRound(db: Database.Database, roundId: number, result: MinerRoundResult, ema: number): number {
  const c = result.components;
  return Number(
    db
      .prepare(
        `INSERT INTO miner_rounds (round_id, miner, address, started_at, finished_at, claimed_cpu_count, claimed_memory_bytes,
           compute, memory, rental, metrics, round_score, ema, error, lie, capacity)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
        result.capacity ? JSON.stringify(result.capacity) : null,
      ).lastInsertRowid,
  );
}

type FindingInserter = (challengeId: number | null, findings: readonly Finding[]) => void;

/** Inserts findings of one miner round: a challenge's, or the round's own when `challengeId` is null. */
function findingInserter(db: Database.Database, minerRoundId: number): FindingInserter {
  const insert = db.prepare('INSERT INTO findings (miner_round_id, challenge_id, code, text, figures) VALUES (?, ?, ?, ?, ?)');
  return (challengeId, findings) => {
    for (const f of findings) insert.run(minerRoundId, challengeId, f.code, f.message, f.figures ? JSON.stringify(f.figures) : null);
  };
}

/** Inserts each challenge (its index is its seq) with its samples and findings. */
function insertChallenges(db: Database.Database, minerRoundId: number, challenges: readonly ChallengeRecord[], insertFindings: FindingInserter): void {
  const insertChallenge = db.prepare(
    `INSERT INTO challenges (miner_round_id, seq, kind, step, passed, elapsed_ms, deadline_ms, details)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertSample = db.prepare(
    `INSERT INTO samples (challenge_id, seq, phase, elapsed_us, cpu_usage, cpu_time_ns, memory_usage, memory_limit, pids,
       net_rx_bytes, net_tx_bytes, net_rx_packets, net_tx_packets, host_steal_percent)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  challenges.forEach((ch, seq) => {
    const challengeId = Number(
      insertChallenge.run(minerRoundId, seq, ch.kind, ch.step, ch.passed ? 1 : 0, ch.elapsedMs, ch.deadlineMs ?? null, toJson(detailsWithNetwork(ch.details, ch.samples))).lastInsertRowid,
    );
    ch.samples.forEach((s, i) =>
      insertSample.run(challengeId, i, s.phase, s.elapsedUs, s.cpuUsage, s.cpuTimeNs, s.memoryUsage, s.memoryLimit, s.pids,
        s.netRxBytes ?? null, s.netTxBytes ?? null, s.netRxPackets ?? null, s.netTxPackets ?? null, s.hostStealPercent ?? null),
    );
    insertFindings(challengeId, ch.findings);
  });
}

function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** The score row: the EMA, the offer when the miner stated one, and the capacity proven when a proof ran (else the last proven stays). */
function upsertScore(db: Database.Database, roundId: number, result: MinerRoundResult, ema: number): void {
  const c = result.capacity;
  db.prepare(
    `INSERT INTO scores (miner, ema, rounds, last_score, last_round_id, last_round_at,
       offered_cpus, free_cpus, offered_memory_bytes, free_memory_bytes, proven_cores, proven_memory_bytes)
     VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, coalesce(?, 0), coalesce(?, 0))
     ON CONFLICT (miner) DO UPDATE SET ema = excluded.ema, rounds = rounds + 1, last_score = excluded.last_score,
       last_round_id = excluded.last_round_id, last_round_at = excluded.last_round_at,
       offered_cpus = coalesce(excluded.offered_cpus, offered_cpus), free_cpus = coalesce(excluded.free_cpus, free_cpus),
       offered_memory_bytes = coalesce(excluded.offered_memory_bytes, offered_memory_bytes),
       free_memory_bytes = coalesce(excluded.free_memory_bytes, free_memory_bytes),
       proven_cores = coalesce(?, proven_cores), proven_memory_bytes = coalesce(?, proven_memory_bytes)`,
  ).run(
    result.miner, ema, result.roundScore, roundId, result.finishedAt.getTime(),
    c?.offeredCpus ?? null, c?.freeCpus ?? null, c?.offeredMemoryBytes ?? null, c?.freeMemoryBytes ?? null,
    c?.provenCores ?? null, c?.provenMemoryBytes ?? null, c?.provenCores ?? null, c?.provenMemoryBytes ?? null,
  );
}

/** Reads every miner's result in a round, by miner name, with challenges, samples and findings. */
function minerRoundReader(db: Database.Database): (roundId: number) => StoredMinerRound[] {
  const minerRounds = db.prepare('SELECT * FROM miner_rounds WHERE round_id = ? ORDER BY miner');
  const challenges = db.prepare('SELECT id, kind, step, passed, elapsed_ms, deadline_ms, details FROM challenges WHERE miner_round_id = ? ORDER BY seq');
  const samples = db.prepare(
    `SELECT phase, elapsed_us, cpu_usage, cpu_time_ns, memory_usage, memory_limit, pids,
       net_rx_bytes, net_tx_bytes, net_rx_packets, net_tx_packets, host_steal_percent
     FROM samples WHERE challenge_id = ? ORDER BY seq`,
  );
  const findings = db.prepare('SELECT challenge_id, code, text, figures FROM findings WHERE miner_round_id = ? ORDER BY id');
  return (roundId) =>
    (minerRounds.all(roundId) as MinerRoundRow[]).map((mr) => {
      const found = findings.all(mr.id) as FindingRow[];
      const records = (challenges.all(mr.id) as ChallengeRow[]).map((ch) => challengeOf(ch, found, (samples.all(ch.id) as SampleRow[]).map(sampleOf)));
      return minerRoundOf(mr, found, records);
    });
}
