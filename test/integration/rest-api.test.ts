/**
 * The seed's REST API (../shared/SEED.md, "API Reference") on a real miner
 * with real Docker: curl with client certificates, a Python standard-library
 * client, and hostile requests that must leave nothing behind.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { countResources, removeResources, requireDocker } from '../support/docker.js';
import type { PemFiles } from '../support/pki.js';
import { RESULT_TAIL_BYTES } from '../../common/message-limits.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

// The seed's own example bodies, as SEED.md shows them (the challenge's
// "string" command and numbers filled in with a real shell command).
const SEED_ALLOCATE = '{\n    "memory": "2g",\n    "cpu_count": 2,\n    "devices": []\n}';
const SEED_ALLOCATE_USAGE = { memory: '2g', cpu_count: 2 };
const seedChallenge = (command: string) => JSON.stringify({ type: 'compute', data: { command, duration: 10, expected_cpu: 2 } });
const SHELL_COMMAND = 'echo hello from $(uname -s) && i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo counted $i';

interface Answer {
  status: number;
  json: any;
}

describe('the seed REST API over HTTPS with mutual TLS', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  let base: string;

  before(async () => {
    await requireDocker();
    miner = await startMiner({
      config: {
        // Two requests at once, so the test can reach the bound.
        rest: { enabled: true, host: '127.0.0.1', port: 0, max_concurrent_requests: 2 },
        // The seed asks for 2 CPUs and 2g; other suites may hold CPUs on this host.
        docker: { overcommit_ratio: 4 },
      },
    });
    const line = miner.logs.find((l) => l.includes('"msg":"rest api listening'));
    expect(line, miner.logs.join('\n')).to.be.a('string');
    base = `https://localhost:${/"port":(\d+)/.exec(line!)![1]}`;
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  const containers = async () => (await countResources(miner.prefix)).containers;

  async function curl(client: PemFiles | null, method: string, path: string, body?: string, extra: string[] = []): Promise<Answer> {
    const args = ['-sS', '--max-time', '60', '--cacert', miner.pki.caCert, '-X', method, '-w', '\n%{http_code}'];
    if (client) args.push('--cert', client.cert, '--key', client.key);
    if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', body);
    const { stdout } = await run('curl', [...args, ...extra, `${base}${path}`], { maxBuffer: 64 * 1024 * 1024 });
    const cut = stdout.lastIndexOf('\n');
    const text = stdout.slice(0, cut);
    return { status: Number(stdout.slice(cut + 1)), json: text ? JSON.parse(text) : undefined };
  }

  const expectError = (answer: Answer, status: number, code: string, message?: RegExp) => {
    expect(answer.status, JSON.stringify(answer.json)).to.equal(status);
    expect(answer.json.status).to.equal('error');
    expect(answer.json.error.code).to.equal(code);
    if (message) expect(answer.json.error.message).to.match(message);
  };

  describe('with curl --cert and the seed example bodies', () => {
    let id: string;

    it('POST /allocate answers with the seed shape', async () => {
      const a = await curl(miner.pki.client('renter'), 'POST', '/allocate', SEED_ALLOCATE);
      expect(a.status, JSON.stringify(a.json)).to.equal(200);
      expect(a.json).to.include({ status: 'success', host: '127.0.0.1', username: 'root' });
      for (const key of ['container_id', 'container_name', 'password', 'ssh_port']) expect(a.json[key], key).to.be.a('string').and.not.empty;
      expect(a.json.ssh_port).to.match(/^\d+$/);
      id = a.json.container_id;
      expect(await containers()).to.equal(1);
    });

    it('PUT /challenge/{container_id} runs the shell command and answers with command_result and metrics', async () => {
      const a = await curl(miner.pki.client('renter'), 'PUT', `/challenge/${id}`, seedChallenge(SHELL_COMMAND));
      expect(a.status, JSON.stringify(a.json)).to.equal(200);
      expect(a.json.status).to.equal('success');
      expect(a.json.type).to.equal('compute');
      expect(a.json.command_result).to.have.all.keys('status', 'exit_code', 'output');
      expect(a.json.command_result).to.deep.equal({ status: 'completed', exit_code: 0, output: 'hello from Linux\ncounted 100000\n' });
      expect(a.json.metrics).to.have.all.keys('cpu_usage', 'memory_usage', 'memory_limit', 'memory_percent');
      for (const v of Object.values(a.json.metrics)) expect(v).to.be.a('number');
      expect(a.json.metrics.memory_limit).to.equal(2 * 1024 ** 3);
      expect(a.json.metrics.memory_usage).to.be.above(0);
    });

    it('reports a failing command as the seed would: status and exit code', async () => {
      const a = await curl(miner.pki.client('renter'), 'PUT', `/challenge/${id}`, seedChallenge('echo out; echo err >&2; exit 3'));
      expect(a.status).to.equal(200);
      expect(a.json.command_result).to.deep.equal({ status: 'failed', exit_code: 3, output: 'out\n' });
      expect(a.json.details.stderr).to.equal('err\n');
    });

    it('answers a large output with its tail (256 KiB) and states the whole stream in details', async () => {
      // 300,000 lines "<n>\n": 1,988,895 bytes.
      const a = await curl(miner.pki.client('renter'), 'PUT', `/challenge/${id}`, seedChallenge('seq 1 300000'));
      expect(a.status).to.equal(200);
      const whole = Buffer.from(`${Array.from({ length: 300_000 }, (_, i) => i + 1).join('\n')}\n`);
      expect(a.json.command_result.output).to.equal(whole.subarray(whole.length - RESULT_TAIL_BYTES).toString());
      expect(a.json.details).to.deep.include({
        output_truncated: true,
        stdout_bytes: whole.length,
        stdout_sha256: createHash('sha256').update(whole).digest('hex'),
      });
    });

    it('GET /containers lists the container and its state', async () => {
      const a = await curl(miner.pki.client('renter'), 'GET', '/containers');
      expect(a.status).to.equal(200);
      expect(a.json.status).to.equal('success');
      const mine = a.json.containers.find((c: { container_id: string }) => c.container_id === id);
      expect(mine, JSON.stringify(a.json)).to.include({ state: 'running', cpu_count: 2, memory_bytes: 2 * 1024 ** 3, owner: 'spiffe://polarise/renter/test' });
      // Another renter sees none of it.
      const other = await curl(miner.pki.client('renter', 'other'), 'GET', '/containers');
      expect(other.json.containers).to.deep.equal([]);
    });

    it("answers another renter's container with 404, as it answers an unknown one (no existence oracle)", async () => {
      expectError(await curl(miner.pki.client('renter', 'other'), 'DELETE', `/containers/${id}`), 404, 'NOT_FOUND', /of yours on this miner/);
      expectError(await curl(miner.pki.client('renter'), 'PUT', '/challenge/nosuchcontainer', seedChallenge('true')), 404, 'NOT_FOUND');
      expect(await containers()).to.equal(1);
    });

    it('DELETE /containers/{id} releases it', async () => {
      const a = await curl(miner.pki.client('renter'), 'DELETE', `/containers/${id}`);
      expect(a.status).to.equal(200);
      expect(a.json).to.deep.equal({ status: 'success', container_id: id });
      expect(await containers()).to.equal(0);
      expectError(await curl(miner.pki.client('renter'), 'DELETE', `/containers/${id}`), 404, 'NOT_FOUND');
    });
  });

  it('serves a Python standard-library client (http.client + ssl): allocate, challenge, list, delete', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'polarise-rest-py-'));
    const script = join(dir, 'client.py');
    writeFileSync(script, PYTHON_CLIENT);
    const client = miner.pki.client('validator');
    const { stdout } = await run(PYTHON, [script, base.replace('https://', ''), miner.pki.caCert, client.cert, client.key, JSON.stringify(SEED_ALLOCATE_USAGE), seedChallenge('echo python-$((6*7))')]);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { step: string; status: number; body: any });
    const [allocate, challenge, list, release] = lines;
    expect(allocate).to.include({ step: 'allocate', status: 200 });
    expect(allocate!.body.status).to.equal('success');
    expect(challenge).to.include({ step: 'challenge', status: 200 });
    expect(challenge!.body.command_result).to.deep.equal({ status: 'completed', exit_code: 0, output: 'python-42\n' });
    expect(challenge!.body.metrics.memory_limit).to.equal(2 * 1024 ** 3);
    expect(list).to.include({ step: 'list', status: 200 });
    expect(list!.body.containers.map((c: { container_id: string }) => c.container_id)).to.include(allocate!.body.container_id);
    expect(release).to.include({ step: 'release', status: 200 });
    expect(await containers()).to.equal(0);
  });

  describe('while challenges run', () => {
    let id: string;
    const renter = () => miner.pki.client('renter', 'busy');
    before(async () => {
      id = (await curl(renter(), 'POST', '/allocate', '{"memory": "256m", "cpu_count": 1}')).json.container_id;
    });
    after(async () => {
      await curl(renter(), 'DELETE', `/containers/${id}`);
    });

    it('bounds requests at once (rest.max_concurrent_requests): one more gets 429', async () => {
      const running = [1, 2].map(() => curl(renter(), 'PUT', `/challenge/${id}`, seedChallenge('sleep 3; echo slept')));
      await new Promise((r) => setTimeout(r, 1500));
      expectError(await curl(renter(), 'GET', '/containers'), 429, 'RESOURCE_EXHAUSTED', /rest\.max_concurrent_requests/);
      for (const answer of await Promise.all(running)) expect(answer.json.command_result.output).to.equal('slept\n');
      expect((await curl(renter(), 'GET', '/containers')).status).to.equal(200);
    });

    it('ends the command when the client goes away', async () => {
      const gone = await curl(renter(), 'PUT', `/challenge/${id}`, seedChallenge('sleep 31; echo never'), ['--max-time', '2']).then(
        () => null,
        (e: { code: number }) => e,
      );
      expect(gone?.code, 'curl should have timed out').to.equal(28);
      await new Promise((r) => setTimeout(r, 1500));
      const ps = await curl(renter(), 'PUT', `/challenge/${id}`, seedChallenge('for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done'));
      expect(ps.json.command_result.output).to.not.include('sleep 31');
      expect(ps.json.command_result.output).to.include('/proc/');
    });
  });

  describe('refuses, and leaves nothing behind', () => {
    afterEach(async () => expect(await containers()).to.equal(0));

    it('a client without a certificate, at the TLS handshake', async () => {
      const err = await curl(null, 'GET', '/containers').then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err, 'curl should have failed').to.not.equal(null);
      // 56: the server refused the handshake (alert: certificate required); never an HTTP answer.
      expect(err!.stderr).to.match(/alert|handshake|SSL|certificate/i);
    });

    it('a certificate from another CA, at the TLS handshake', async () => {
      const err = await curl(miner.pki.foreign, 'GET', '/containers').then(
        () => null,
        (e: { stderr: string }) => e,
      );
      expect(err, 'curl should have failed').to.not.equal(null);
    });

    it('a role that may not call the endpoint: 403 JSON', async () => {
      expectError(await curl(miner.pki.client('operator'), 'POST', '/allocate', SEED_ALLOCATE), 403, 'PERMISSION_DENIED', /role "operator" may not call allocate/);
      expectError(await curl(miner.pki.noRole, 'GET', '/containers'), 403, 'PERMISSION_DENIED', /names no Polarise role/);
    });

    it('bad JSON, a non-JSON content type, an unknown field, a wrong type: 400 / 415 naming the problem', async () => {
      const renter = miner.pki.client('renter');
      expectError(await curl(renter, 'POST', '/allocate', '{"memory": "2g",'), 400, 'INVALID_ARGUMENT', /not valid JSON/);
      expectError(await curl(renter, 'POST', '/allocate', '[1]'), 400, 'INVALID_ARGUMENT', /JSON object/);
      expectError(await curl(renter, 'POST', '/allocate', '{"memory": "2g", "gpus": 9}'), 400, 'INVALID_ARGUMENT', /^gpus: unknown field/);
      expectError(await curl(renter, 'POST', '/allocate', '{"memory": "lots"}'), 400, 'INVALID_ARGUMENT', /^memory/);
      expectError(await curl(renter, 'POST', '/allocate', '{"cpu_count": "two"}'), 400, 'INVALID_ARGUMENT', /^cpu_count/);
      expectError(await curl(renter, 'PUT', '/challenge/x', '{"type": "disk", "data": {"command": "true"}}'), 400, 'INVALID_ARGUMENT', /^type/);
      expectError(await curl(renter, 'PUT', '/challenge/x', '{"type": "compute", "data": {"command": 7}}'), 400, 'INVALID_ARGUMENT', /^data\.command/);
      const form = await curl(renter, 'POST', '/allocate', undefined, ['-H', 'Content-Type: application/x-www-form-urlencoded', '--data', 'memory=2g']);
      expectError(form, 415, 'INVALID_ARGUMENT', /Content-Type: application\/json/);
    });

    it('an oversized body: 413 before it is parsed', async () => {
      const big = JSON.stringify({ memory: '2g', devices: ['x'.repeat(100 * 1024)] });
      expectError(await curl(miner.pki.client('renter'), 'POST', '/allocate', big), 413, 'INVALID_ARGUMENT', /rest\.max_body_bytes/);
    });

    it('an unknown path, a wrong method, a hostile path: 404 / 405 / 400 / 414', async () => {
      const renter = miner.pki.client('renter');
      expectError(await curl(renter, 'GET', '/admin'), 404, 'NOT_FOUND', /no such endpoint/);
      expectError(await curl(renter, 'GET', '/containers/a/b'), 404, 'NOT_FOUND');
      expectError(await curl(renter, 'GET', '/allocate'), 405, 'UNIMPLEMENTED', /use POST/);
      expectError(await curl(renter, 'GET', '/challenge/%2e%2e%2fetc'), 405, 'UNIMPLEMENTED');
      expectError(await curl(renter, 'DELETE', '/containers/%2e%2e%2fetc'), 400, 'INVALID_ARGUMENT', /^container_id/);
      expectError(await curl(renter, 'DELETE', '/containers/%zz'), 400, 'INVALID_ARGUMENT', /percent-encoding/);
      expectError(await curl(renter, 'GET', `/containers/${'a'.repeat(600)}`), 414, 'INVALID_ARGUMENT');
    });
  });
});

/** A client as the seed's users would write it, with only the standard library. */
const PYTHON_CLIENT = String.raw`
import http.client, json, ssl, sys

address, ca, cert, key, allocate_body, challenge_body = sys.argv[1:7]
host, port = address.rsplit(':', 1)
context = ssl.create_default_context(cafile=ca)
context.load_cert_chain(cert, key)

def call(step, method, path, body=None):
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=60)
    headers = {'Content-Type': 'application/json'} if body is not None else {}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    print(json.dumps({'step': step, 'status': response.status, 'body': answer}), flush=True)
    return answer

allocated = call('allocate', 'POST', '/allocate', json.loads(allocate_body))
container_id = allocated['container_id']
call('challenge', 'PUT', '/challenge/' + container_id, json.loads(challenge_body))
call('list', 'GET', '/containers')
call('release', 'DELETE', '/containers/' + container_id)
`;
