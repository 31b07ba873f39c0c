import { expect } from 'chai';
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS, SCHEMA_VERSION, ScoreStore, ScoreStoreError } from '../../validator/scoring/score-store.js';
import { updateEma } from '../../validator/scoring/scoring.js';
import { minerRound } from '../support/round-results.js';

const ALPHA = 0.3;

function schemaOf(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all();
  } finally {
    db.close();
  }
}

function expectStoreError(work: () => unknown, problem: ScoreStoreError['problem'], path: string, hint: RegExp): void {
  let caught: unknown;
  try {
    work();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'an error').to.be.instanceOf(ScoreStoreError);
  const err = caught as ScoreStoreError;
  expect(err.problem).to.equal(problem);
  expect(err.message).to.include(path);
  expect(err.message).to.match(hint);
}

/** Another process holding the database's write lock until its stdin closes. */
async function holdWriteLock(path: string, journalMode: 'wal' | 'delete'): Promise<ChildProcess> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('journal_mode = ${journalMode}');
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('locked\\n');
    process.stdin.on('end', () => { db.exec('COMMIT'); db.close(); });
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['-e', script, path], { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  expect(chunk.toString()).to.equal('locked\n');
  return child;
}

async function release(child: ChildProcess): Promise<void> {
  child.stdin!.end();
  if (child.exitCode === null) await once(child, 'exit');
}

describe('score store (SQLite)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'polarise-store-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the file and its parent folder, in WAL mode at the current schema version', () => {
    const path = join(dir, 'nested', 'deeper', 'validator.db');
    const store = ScoreStore.open(path);
    try {
      expect(existsSync(path)).to.equal(true);
      expect(store.schemaVersion()).to.equal(SCHEMA_VERSION);
      expect(store.currentScores()).to.deep.equal([]);
      expect(store.recentRounds(10)).to.deep.equal([]);
    } finally {
      store.close();
    }
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((t) => t.name);
    db.close();
    expect(tables).to.deep.equal(['challenges', 'findings', 'miner_rounds', 'rounds', 'samples', 'scores']);
  });

  it('accumulates moving averages across rounds and survives a restart', () => {
    const path = join(dir, 'validator.db');
    const plan = [
      { honest: 0.9, lazy: 0.4 },
      { honest: 1.0, lazy: 0.2 },
      { honest: 0.8, lazy: 0 },
    ];
    const expected = new Map<string, number | undefined>();
    plan.forEach((scores, i) => {
      // A fresh store per round: the validator restarting between rounds.
      const store = ScoreStore.open(path);
      try {
        const roundId = store.startRound(new Date(Date.UTC(2025, 0, 1, i)));
        expect(roundId).to.equal(i + 1);
        for (const [miner, score] of Object.entries(scores)) {
          const want = updateEma(expected.get(miner), score, ALPHA);
          expected.set(miner, want);
          const extra = miner === 'lazy' && score === 0 ? { error: 'miner unavailable: connection refused', challenges: [] } : {};
          const { ema } = store.recordMinerRound(roundId, minerRound(miner, score, extra), ALPHA);
          expect(ema).to.be.closeTo(want, 1e-12);
        }
        store.finishRound(roundId, new Date(Date.UTC(2025, 0, 1, i, 5)));
      } finally {
        store.close();
      }
    });

    const store = ScoreStore.open(path);
    try {
      const scores = store.currentScores();
      expect(scores.map((s) => s.miner)).to.deep.equal(['honest', 'lazy']);
      expect(scores[0]!.ema).to.be.closeTo(expected.get('honest')!, 1e-12);
      expect(scores[1]!.ema).to.be.closeTo(expected.get('lazy')!, 1e-12);
      expect(scores[0]!.rounds).to.equal(3);
      expect(scores[0]!.lastScore).to.equal(0.8);
      expect(scores[0]!.lastRoundAt).to.be.instanceOf(Date);
      expect(scores[0]!.ema).to.be.greaterThan(scores[1]!.ema);

      const history = store.scoreHistory('honest');
      expect(history.map((h) => h.roundId)).to.deep.equal([1, 2, 3]);
      expect(history.map((h) => h.score)).to.deep.equal([0.9, 1.0, 0.8]);
      expect(history[2]!.ema).to.be.closeTo(expected.get('honest')!, 1e-12);
      expect(store.scoreHistory('nobody')).to.deep.equal([]);
    } finally {
      store.close();
    }
  });

  it('keeps the offer and the capacity last proven: a round that proves nothing leaves the last proven capacity', () => {
    const store = ScoreStore.open(join(dir, 'capacity.db'));
    try {
      const offer = { offeredCpus: 2, freeCpus: 2, offeredMemoryBytes: 8 * 2 ** 30, freeMemoryBytes: 8 * 2 ** 30, rentedCpus: 2 };
      const r1 = store.startRound(new Date());
      store.recordMinerRound(r1, minerRound('m', 0.9, { capacity: { ...offer, provenCores: 1.6, provenMemoryBytes: 2 ** 28 } }), ALPHA);
      const r2 = store.startRound(new Date());
      // Renters hold part of it now, and the round failed before any proof ran.
      store.recordMinerRound(r2, minerRound('m', 0, { capacity: { ...offer, freeCpus: 1 }, error: 'allocate: busy', challenges: [] }), ALPHA);
      const [m] = store.currentScores();
      expect(m).to.deep.include({ offeredCpus: 2, freeCpus: 1, provenCores: 1.6, provenMemoryBytes: 2 ** 28 });
      const r3 = store.startRound(new Date());
      store.recordMinerRound(r3, minerRound('m', 0, { capacity: { ...offer, provenCores: 0, provenMemoryBytes: 0 } }), ALPHA);
      expect(store.currentScores()[0]).to.deep.include({ provenCores: 0, provenMemoryBytes: 0 });
    } finally {
      store.close();
    }
  });

  it('gives a restarted validator the best of the recent full rounds: newest first, past light rounds, up to the last lie', () => {
    const path = join(dir, 'best-of.db');
    const offer = { offeredCpus: 2, freeCpus: 2, offeredMemoryBytes: 2 ** 31, freeMemoryBytes: 2 ** 31, rentedCpus: 2 };
    const round = (kind: 'full' | 'light', cores: number, invalid?: boolean) => ({
      capacity: { ...offer, kind, provenCores: cores, provenMemoryBytes: 2 ** 30, roundProvenCores: cores, roundProvenMemoryBytes: 2 ** 30, invalid },
    });
    const record = (...rounds: ReturnType<typeof round>[]) => {
      const store = ScoreStore.open(path);
      try {
        for (const r of rounds) store.recordMinerRound(store.startRound(new Date()), minerRound('m', 0.9, r), ALPHA);
      } finally {
        store.close();
      }
    };
    const earlier = (bestOf: number) => {
      const store = ScoreStore.open(path);
      try {
        return store.capacityHistory('m', bestOf).earlier;
      } finally {
        store.close();
      }
    };
    record(round('full', 1.5), round('full', 0.9, true), round('full', 1.4), round('light', 0.5), round('full', 0.7));
    expect(earlier(3)).to.deep.equal({ cores: 1.4, memoryBytes: 2 ** 30 });
    expect(earlier(2)).to.deep.equal({ cores: 0.7, memoryBytes: 2 ** 30 });
    expect(earlier(1)).to.deep.equal({ cores: 0, memoryBytes: 0 });
    // The invalid round ends the run: 1.5 before it never counts again.
    expect(earlier(24)).to.deep.equal({ cores: 1.4, memoryBytes: 2 ** 30 });
  });

  it('gives back what was recorded: challenges, samples, details and findings', () => {
    const path = join(dir, 'validator.db');
    const store = ScoreStore.open(path);
    try {
      const original = minerRound('honest', 0.85, { findings: [{ code: 'release-failed', message: 'round-level <finding>' }] });
      original.challenges[1]!.findings.push({ code: 'compute-proof-invalid', message: 'compute open: row 17 did not match' });
      original.challenges[0]!.findings.push({ code: 'samples-impossible', message: 'doubled', figures: { cpuSeconds: 2.5, maxCpuSeconds: 1.2 } });
      original.lie = true;
      const started = new Date('2025-03-01T00:00:00Z');
      const roundId = store.startRound(started);
      store.recordMinerRound(roundId, original, ALPHA);
      const failed = minerRound('down', 0, { error: 'connect ECONNREFUSED', challenges: [] });
      store.recordMinerRound(roundId, failed, ALPHA);

      let [round] = store.recentRounds(5);
      expect(round!.finishedAt).to.equal(undefined);
      store.finishRound(roundId, new Date('2025-03-01T00:01:00Z'));
      [round] = store.recentRounds(5);
      expect(round!.id).to.equal(roundId);
      expect(round!.startedAt).to.deep.equal(started);
      expect(round!.finishedAt).to.deep.equal(new Date('2025-03-01T00:01:00Z'));
      expect(round!.miners.map((m) => m.miner)).to.deep.equal(['down', 'honest']);
      // Each finding once, with its code and figures, under its challenge (the store once kept challenge findings twice).
      expect(round!.miners[1]).to.deep.equal({ ...original, roundId, ema: 0.85 });
      expect(round!.miners[0]).to.deep.equal({ ...failed, roundId, ema: 0 });
    } finally {
      store.close();
    }
  });

  it("keeps each sample's network counters and host steal; a sample without them reads back without them", () => {
    const store = ScoreStore.open(join(dir, 'validator.db'));
    try {
      const result = minerRound('net', 0.9);
      const [first, second] = result.challenges[0]!.samples;
      result.challenges[0]!.samples = [
        { ...first!, netRxBytes: 1500, netTxBytes: 64_000_000_000, netRxPackets: 3, netTxPackets: 44_000, hostStealPercent: 7.5 },
        second!,
      ];
      store.recordMinerRound(store.startRound(new Date()), result, ALPHA);
      const [a, b] = store.recentRounds(1)[0]!.miners[0]!.challenges[0]!.samples;
      expect(a).to.deep.include({ netRxBytes: 1500, netTxBytes: 64_000_000_000, netRxPackets: 3, netTxPackets: 44_000, hostStealPercent: 7.5 });
      expect(b).to.deep.equal(second);
    } finally {
      store.close();
    }
  });

  it('returns the newest rounds first, at most `limit`', () => {
    const store = ScoreStore.open(join(dir, 'validator.db'));
    try {
      for (let i = 0; i < 4; i++) store.recordMinerRound(store.startRound(new Date()), minerRound('a', 0.5), ALPHA);
      expect(store.recentRounds(2).map((r) => r.id)).to.deep.equal([4, 3]);
    } finally {
      store.close();
    }
  });

  it('stores thousands of samples quickly (one transaction per miner round)', () => {
    const store = ScoreStore.open(join(dir, 'validator.db'));
    try {
      const result = minerRound('busy', 0.9);
      const many = Array.from({ length: 5000 }, (_, i) => ({ ...result.challenges[0]!.samples[0]!, elapsedUs: i * 1000 }));
      result.challenges[0]!.samples = many;
      const started = performance.now();
      store.recordMinerRound(store.startRound(new Date()), result, ALPHA);
      expect(performance.now() - started).to.be.lessThan(2000);
      expect(store.recentRounds(1)[0]!.miners[0]!.challenges[0]!.samples).to.have.length(5000);
    } finally {
      store.close();
    }
  });

  it('migrates a version-1 database: each finding kept once, marked unclassified', () => {
    const path = join(dir, 'v1.db');
    const db = new Database(path);
    db.exec(MIGRATIONS[0]!);
    db.pragma('user_version = 1');
    db.exec(`INSERT INTO rounds (id, started_at) VALUES (1, 0);
      INSERT INTO miner_rounds (id, round_id, miner, address, started_at, finished_at, claimed_cpu_count, claimed_memory_bytes,
        compute, memory, rental, metrics, round_score, ema) VALUES (1, 1, 'm', 'a', 0, 1, 1, 1, 0, 0, 1, 0, 0.25, 0.25);
      INSERT INTO challenges (id, miner_round_id, seq, kind, step, passed, elapsed_ms, details) VALUES (7, 1, 0, 'compute', 'commit', 0, 1, '{}');
      INSERT INTO findings (miner_round_id, challenge_id, text) VALUES (1, NULL, 'cpu commit: too slow'), (1, NULL, 'rental: ok'), (1, 7, 'cpu commit: too slow');`);
    db.close();
    const store = ScoreStore.open(path);
    try {
      const [m] = store.recentRounds(1)[0]!.miners;
      expect(m!.findings).to.deep.equal([{ code: 'unclassified', message: 'rental: ok' }]);
      expect(m!.challenges[0]!.findings).to.deep.equal([{ code: 'unclassified', message: 'cpu commit: too slow' }]);
      expect(m!.lie).to.equal(undefined);
    } finally {
      store.close();
    }
  });

  it('migrates a version-3 database: its samples read back as they were, without network counters', () => {
    const path = join(dir, 'v3.db');
    const db = new Database(path);
    for (const m of MIGRATIONS.slice(0, 3)) db.exec(m);
    db.pragma('user_version = 3');
    db.exec(`INSERT INTO rounds (id, started_at) VALUES (1, 0);
      INSERT INTO miner_rounds (id, round_id, miner, address, started_at, finished_at, claimed_cpu_count, claimed_memory_bytes,
        compute, memory, rental, metrics, round_score, ema) VALUES (1, 1, 'm', 'a', 0, 1, 1, 1, 1, 1, 1, 1, 1, 1);
      INSERT INTO challenges (id, miner_round_id, seq, kind, step, passed, elapsed_ms, details) VALUES (7, 1, 0, 'compute', 'commit', 1, 1, '{}');
      INSERT INTO samples (challenge_id, seq, phase, elapsed_us, cpu_usage, cpu_time_ns, memory_usage, memory_limit, pids)
        VALUES (7, 0, 'compute-commit', 200000, 99.5, 199000000, 1048576, 536870912, 3);`);
    db.close();
    const store = ScoreStore.open(path);
    try {
      expect(store.schemaVersion()).to.equal(SCHEMA_VERSION);
      const [sample] = store.recentRounds(1)[0]!.miners[0]!.challenges[0]!.samples;
      expect(sample).to.deep.equal({ phase: 'compute-commit', elapsedUs: 200000, cpuUsage: 99.5, cpuTimeNs: 199000000, memoryUsage: 1048576, memoryLimit: 536870912, pids: 3 });
    } finally {
      store.close();
    }
  });

  it('runs migrations once: reopening leaves the schema and data as they were', () => {
    const path = join(dir, 'validator.db');
    let store = ScoreStore.open(path);
    store.recordMinerRound(store.startRound(new Date()), minerRound('a', 0.5), ALPHA);
    store.close();
    const schema = schemaOf(path);
    for (let i = 0; i < 3; i++) {
      store = ScoreStore.open(path);
      expect(store.schemaVersion()).to.equal(SCHEMA_VERSION);
      expect(store.currentScores()).to.have.length(1);
      store.close();
    }
    expect(schemaOf(path)).to.deep.equal(schema);
  });

  it('refuses unknown rounds and a duplicate miner in a round', () => {
    const store = ScoreStore.open(join(dir, 'validator.db'));
    try {
      expectStoreError(() => store.recordMinerRound(42, minerRound('a', 0.5), ALPHA), 'unknown-round', store.path, /round 42/);
      expectStoreError(() => store.finishRound(42, new Date()), 'unknown-round', store.path, /round 42/);
      const roundId = store.startRound(new Date());
      store.recordMinerRound(roundId, minerRound('a', 0.5), ALPHA);
      expect(() => store.recordMinerRound(roundId, minerRound('a', 0.5), ALPHA)).to.throw(/UNIQUE/);
      // The failed write left nothing behind: still one round for "a".
      expect(store.currentScores()[0]!.rounds).to.equal(1);
    } finally {
      store.close();
    }
  });

  describe('a file it must not use', () => {
    it('a file that is not SQLite: a clear error, and the file left untouched', () => {
      const path = join(dir, 'validator.db');
      const garbage = Buffer.from('this is not a database, but someone cares about it\n'.repeat(200));
      writeFileSync(path, garbage);
      expectStoreError(() => ScoreStore.open(path), 'corrupt', path, /move it aside/);
      expect(readFileSync(path).equals(garbage)).to.equal(true);
      expect(existsSync(path + '-wal')).to.equal(false);
    });

    it('a damaged database: refused at open by the integrity check, left untouched', () => {
      const path = join(dir, 'validator.db');
      const store = ScoreStore.open(path);
      for (let i = 0; i < 4; i++) store.recordMinerRound(store.startRound(new Date()), minerRound('a', 0.5), ALPHA);
      store.close();
      const bytes = readFileSync(path);
      for (let i = 3 * 4096; i < 5 * 4096 && i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
      writeFileSync(path, bytes);
      expectStoreError(() => ScoreStore.open(path), 'corrupt', path, /integrity|malformed|not a database/);
      expect(readFileSync(path).equals(bytes)).to.equal(true);
    });

    it('a directory in its place', () => {
      const path = join(dir, 'validator.db');
      mkdirSync(path);
      expectStoreError(() => ScoreStore.open(path), 'directory', path, /is a directory/);
    });

    it("another program's database", () => {
      const path = join(dir, 'other.db');
      const db = new Database(path);
      db.exec('CREATE TABLE photos (id INTEGER PRIMARY KEY)');
      db.close();
      expectStoreError(() => ScoreStore.open(path), 'foreign', path, /not a score database.*photos|photos.*not a score database/);
    });

    it('a database from a newer validator', () => {
      const path = join(dir, 'validator.db');
      ScoreStore.open(path).close();
      const db = new Database(path);
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      db.close();
      expectStoreError(() => ScoreStore.open(path), 'newer-schema', path, /newer than this validator/);
    });
  });

  describe('locked by another process', () => {
    it('a write waits for the lock, then fails with a clear error; works once the lock is gone', async () => {
      const path = join(dir, 'validator.db');
      const store = ScoreStore.open(path, { busyTimeoutMs: 200 });
      const holder = await holdWriteLock(path, 'wal');
      try {
        const started = Date.now();
        expectStoreError(() => store.startRound(new Date()), 'locked', path, /another process.*another validator/);
        expect(Date.now() - started).to.be.at.least(150);
        // Reads still work in WAL mode while another process writes.
        expect(store.currentScores()).to.deep.equal([]);
      } finally {
        await release(holder);
      }
      expect(store.startRound(new Date())).to.equal(1);
      store.close();
    });

    it('opening a database another process holds exclusively fails clearly', async () => {
      const path = join(dir, 'validator.db');
      const holder = await holdWriteLock(path, 'delete');
      try {
        expectStoreError(() => ScoreStore.open(path, { busyTimeoutMs: 100 }), 'locked', path, /locked by another process/);
      } finally {
        await release(holder);
      }
      ScoreStore.open(path).close();
    });
  });
});
