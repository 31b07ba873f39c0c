/**
 * Structured logs: one JSON object a line on stderr, or a readable line when
 * stderr is a terminal. Fields whose names look secret are never written.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /pass(word)?|secret|private|token|key_pem|credential/i;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  level?: Level;
  pretty?: boolean;
  write?: (line: string) => void;
}

/** C0 and C1 controls, DEL and the Unicode line/paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Text from a peer can hold newlines or terminal escapes; a log line shows them as \uXXXX. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function redact(fields: Fields): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEY.test(k)) out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = v.message;
    else out[k] = v;
  }
  return out;
}

export function createLogger(base: Fields = {}, options: LoggerOptions = {}): Logger {
  const envLevel = process.env.POLARISE_LOG_LEVEL as Level | undefined;
  const min = ORDER[options.level ?? (envLevel && envLevel in ORDER ? envLevel : 'info')];
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));

  const emit = (level: Level, msg: string, fields: Fields = {}) => {
    if (ORDER[level] < min) return;
    const all = redact({ ...base, ...fields });
    if (pretty) {
      const time = new Date().toISOString().slice(11, 23);
      const extra = Object.entries(all)
        .map(([k, v]) => `${escapeControl(k)}=${escapeControl(typeof v === 'string' ? v : String(JSON.stringify(v)))}`)
        .join(' ');
      write(`${time} ${level.toUpperCase().padEnd(5)} ${escapeControl(msg)}${extra ? '  ' + extra : ''}`);
    } else {
      // JSON escapes C0 controls itself; C1 and U+2028/9 it leaves raw.
      write(escapeControl(JSON.stringify({ time: new Date().toISOString(), level, msg, ...all })));
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, options),
  };
}
