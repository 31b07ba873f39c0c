/**
 * npm run validator [-- [command] [options]]
 * Challenges the configured miners, scores them and keeps the history.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../common/config.js';
import { LiveView, liveViewMode } from './view/live-view.js';
import { writeReport } from './view/report.js';
import { ScoreStore, type CurrentScore } from './scoring/score-store.js';
import { capacityUnits, capacityWeights } from './scoring/scoring.js';
import { formatBytes } from '../common/units.js';
import { fullRoundSchedule, roundSettings, runValidationRound } from './validation-run.js';
import { ValidatorMetrics } from './validator-metrics.js';
import { serveMetrics, type MetricsEndpoint } from '../common/metrics-http.js';
import { errorMessage } from '../common/errors.js';

const PROBE = fileURLToPath(new URL('./probe/build/probe', import.meta.url));

const HELP: Record<string, string> = {
  main: `Usage: npm run validator -- [command] [options]

Commands:
  run        (default) challenge every configured miner, round after round,
             every validator.interval_seconds, until SIGTERM/Ctrl-C
  report     write the HTML report of the stored rounds
  scores     print the current scores and weights

Options:
  --config FILE   configuration file (default: config/config.yaml)
  --once          run one round and exit (run)
  --json          machine-readable output: JSON lines (run, scores)
  --out FILE      where to write the report (report; default validator.report)
  --help          help for a command: npm run validator -- report --help`,
  run: `Usage: npm run validator -- run [--once] [--json] [--config FILE]

Runs validation rounds: per miner Allocate, SSH login and probe upload, the
compute and memory challenges (timed on the validator's own clock, scored
in absolute units: docs/verification.md), Release. Shows a live view on a terminal, plain log lines otherwise.
Exits 0 after --once when the round ran (whatever the scores), 1 on an error.`,
  report: `Usage: npm run validator -- report [--out FILE] [--config FILE]

Writes a self-contained HTML page (inline SVG charts) of the recent rounds:
each challenge's CPU and memory series and each miner's score history.`,
  scores: `Usage: npm run validator -- scores [--json] [--config FILE]

Prints every miner's moving-average score, rounds counted and weight.`,
};

function requireProbe(): void {
  if (!existsSync(PROBE)) throw new Error(`the probe is not built (${PROBE}); run: bash scripts/setup.sh`);
}


async function run(config: Config, once: boolean, json: boolean): Promise<number> {
  const mode = liveViewMode(process.stdout, { json });
  const view = new LiveView(process.stdout, { mode, cpuCount: config.validator.cpu_count });
  const store = ScoreStore.open(config.validator.database);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const metrics = new ValidatorMetrics();
  let endpoint: MetricsEndpoint | undefined;
  try {
    if (config.metrics.enabled && !once) {
      endpoint = await serveMetrics(metrics.registry, config.metrics.host, config.metrics.validator_port);
      view.note(`metrics: http://${config.metrics.host}:${endpoint.port}/metrics`);
    }
    requireProbe();
    const settings = roundSettings(config, PROBE);
    const schedule = fullRoundSchedule(config);
    for (;;) {
      const outcome = await runValidationRound(config, settings, store, view, stop.signal, metrics, schedule);
      view.finish(outcome.table);
      writeReport(store, config.validator.report);
      view.note(`report: ${config.validator.report}`);
      if (once || stop.signal.aborted) return 0;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.validator.interval_seconds * 1000);
        stop.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (stop.signal.aborted) return 0;
    }
  } finally {
    view.stop();
    store.close();
    await endpoint?.close();
  }
}

/** One miner's standing: offered (a claim), free, proven, reliability and weight. */
function scoreLine(s: CurrentScore, weight: number): string {
  const offered = s.offeredCpus === undefined ? 'offered ?' : `offered ${s.offeredCpus} CPU ${formatBytes(s.offeredMemoryBytes ?? 0, 'compact')} (free ${s.freeCpus} CPU ${formatBytes(s.freeMemoryBytes ?? 0, 'compact')})`;
  return `${s.miner.padEnd(20)} ${offered} proven ${s.provenCores.toFixed(2)} cores ${formatBytes(s.provenMemoryBytes, 'compact')} reliability=${s.ema.toFixed(3)} rounds=${s.rounds} weight=${weight.toFixed(3)}`;
}

function scores(config: Config, json: boolean): void {
  const store = ScoreStore.open(config.validator.database);
  try {
    const current = store.currentScores();
    const weights = capacityWeights(current);
    for (const s of current) {
      const weight = weights.get(s.miner) ?? 0;
      if (json) console.log(JSON.stringify({ ...s, capacityUnits: capacityUnits(s), weight }));
      else console.log(scoreLine(s, weight));
    }
    if (!json && current.length === 0) console.log('no rounds stored yet');
  } finally {
    store.close();
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', default: 'config/config.yaml' },
      once: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const command = positionals[0] ?? 'run';
  if (!(command in HELP) || command === 'main') throw new ConfigError(`unknown command "${command}"; one of: run, report, scores`);
  if (values.help) {
    console.log(HELP[positionals[0] ? command : 'main']);
    return 0;
  }
  const config = loadConfig(values.config!);
  switch (command) {
    case 'report': {
      const store = ScoreStore.open(config.validator.database);
      const out = values.out ?? config.validator.report;
      writeReport(store, out);
      store.close();
      console.log(`wrote ${out}`);
      return 0;
    }
    case 'scores':
      scores(config, values.json!);
      return 0;
    default:
      return run(config, values.once!, values.json!);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`validator: ${err instanceof ConfigError ? 'configuration error: ' : ''}${errorMessage(err)}`);
    process.exit(1);
  },
);
