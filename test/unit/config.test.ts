import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, loadConfig } from '../../common/config.js';

const run = promisify(execFile);

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'polarise-config-')), 'config.yaml');
  writeFileSync(path, text);
  return path;
}

function errorOf(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig(file(text), env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('loads the example config/config.yaml with its documented defaults', () => {
    const config = loadConfig('config/config.yaml', {});
    expect(config.network.port).to.equal(8443);
    expect(config.docker.base_image).to.equal('polarise/base:bookworm');
    expect(config.docker.container_prefix).to.equal('polarise-');
    expect(config.ssh.port_range).to.deep.equal({ first: 2200, last: 2399 });
  });

  it('names the key and the problem for a wrong type', () => {
    expect(errorOf('network:\n  port: "eighty"\n')).to.match(/network\.port: .*number/i);
  });

  it('names the key for a bad memory size', () => {
    expect(errorOf('docker:\n  default_memory: "lots"\n')).to.match(/docker\.default_memory: .*"lots" is not a size/);
  });

  it('names unknown keys (the seed\'s token settings are gone: mTLS replaced them)', () => {
    expect(errorOf('security:\n  secret_key: "x"\n')).to.match(/security\.secret_key: unknown key/);
  });

  it('points at the line of broken YAML', () => {
    expect(errorOf('network:\n  port: [1, 2\n')).to.match(/line \d+: not valid YAML/);
  });

  it('lets environment variables override keys, and validates them too', () => {
    const path = file('network:\n  port: 8443\n');
    expect(loadConfig(path, { POLARISE_NETWORK_PORT: '9443', POLARISE_DOCKER_DEFAULT_MEMORY: '2g' }).network.port).to.equal(9443);
    expect(loadConfig(path, { POLARISE_DOCKER_DEFAULT_MEMORY: '2g' }).docker.default_memory).to.equal('2g');
    expect(errorOf('', { POLARISE_NETWORK_PORT: '70000' })).to.match(/network\.port/);
  });

  it('makes the miner exit 1 with the named-key error on a broken file', async () => {
    const path = file('docker:\n  default_cpu_count: 0\n');
    const outcome = await run(process.execPath, ['--import', 'tsx', 'miner/main.ts', '--config', path]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(outcome, 'the miner should refuse the config').to.not.equal(null);
    expect(outcome!.code).to.equal(1);
    expect(outcome!.stderr).to.match(/docker\.default_cpu_count: .*>=1/);
  });
});
