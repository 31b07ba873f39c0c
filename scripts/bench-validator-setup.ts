/** What the validator benchmarks share: a validator configured against test miners, with its store and a plain live view. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, type Config } from '../common/config.js';
import type { RoundSettings } from '../validator/miner-round.js';
import { ScoreStore } from '../validator/scoring/score-store.js';
import { roundSettings } from '../validator/validation-run.js';
import { LiveView } from '../validator/view/live-view.js';
import type { TestPki } from '../test/support/pki.js';

const PROBE = fileURLToPath(new URL('../validator/probe/build/probe', import.meta.url));

export interface BenchValidator {
  config: Config;
  settings: RoundSettings;
  store: ScoreStore;
  view: LiveView;
}

/** `validator` keys override the defaults; the database `<label>.db` lives in `dir`. */
export async function benchValidator(pki: TestPki, dir: string, label: string, validator: Record<string, unknown>): Promise<BenchValidator> {
  const client = pki.client('validator', 'bench');
  const config = parseConfig(
    {
      validator: {
        ca_cert: pki.caCert,
        cert: client.cert,
        key: client.key,
        database: join(dir, `${label}.db`),
        capacity: { enabled: false },
        ...validator,
      },
    },
    'bench',
  );
  return {
    config,
    settings: roundSettings(config, PROBE),
    store: ScoreStore.open(config.validator.database),
    view: new LiveView(process.stderr, { mode: 'plain' }),
  };
}
