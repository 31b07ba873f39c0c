/** Log lines: one line per entry whatever a peer sends, secrets redacted. */
import { expect } from 'chai';
import { createLogger } from '../../common/logger.js';

function lines(pretty: boolean, log: (l: ReturnType<typeof createLogger>) => void): string[] {
  const out: string[] = [];
  log(createLogger({}, { pretty, level: 'debug', write: (line) => out.push(line) }));
  return out;
}

const HOSTILE = 'a\nFAKE ERROR injected\r\u001b[31mred\u0085\u2028end\u007f';

describe('logger', () => {
  it('pretty lines escape control characters in the message, keys and values', () => {
    const [line] = lines(true, (l) => l.info(`msg ${HOSTILE}`, { container: HOSTILE, ['k\ney']: 1 }));
    expect(line).to.not.match(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(line).to.include('a\\u000aFAKE ERROR injected\\u000d\\u001b[31mred\\u0085\\u2028end\\u007f');
    expect(line).to.include('k\\u000aey=1');
  });

  it('JSON lines are one line, valid JSON, and give back the text as sent', () => {
    const out = lines(false, (l) => l.warn(HOSTILE, { details: HOSTILE }));
    expect(out).to.have.length(1);
    expect(out[0]).to.not.match(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    const parsed = JSON.parse(out[0]!) as { msg: string; details: string };
    expect(parsed.msg).to.equal(HOSTILE);
    expect(parsed.details).to.equal(HOSTILE);
  });

  it('never writes fields whose names look secret', () => {
    const [line] = lines(false, (l) => l.info('allocated', { password: 'hunter2', privateKey: 'k' }));
    expect(line).to.not.include('hunter2');
    expect(JSON.parse(line!)).to.include({ password: '[redacted]', privateKey: '[redacted]' });
  });
});
