/** The validator as an operator runs it: a config file of its own, and the real CLI (`npm run validator`). */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { TestPki } from './pki.js';

const run = promisify(execFile);

/**
 * Writes `dir`/config.yaml for a validator certificate of `pki`, with its
 * database and report in `dir`; `validator` keys override.
 */
export function writeValidatorConfig(dir: string, pki: TestPki, miners: { name: string; address: string }[], validator: Record<string, unknown>): string {
  const client = pki.client('validator', 'v1');
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    stringify({
      validator: {
        ca_cert: pki.caCert,
        cert: client.cert,
        key: client.key,
        miners,
        concurrency: 1,
        memory: '512m',
        database: join(dir, 'validator.db'),
        report: join(dir, 'report.html'),
        // Light rounds only unless a test asks for full-capacity ones: a full round rents most of the host.
        capacity: { enabled: false },
        ...validator,
      },
    }),
  );
  return path;
}

/** Runs `npm run validator -- <args> --config <configPath>` and returns its standard output. */
export async function runValidator(configPath: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'validator/main.ts', ...args, '--config', configPath], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
