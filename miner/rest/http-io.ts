/**
 * The REST API's plumbing: bounded JSON bodies in, JSON answers and errors
 * out. An error is {"status": "error", "error": {"code": "<gRPC code name>",
 * "message": "..."}} with the HTTP status that matches the gRPC code, so a
 * client sees the same failure whichever API it uses.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Failure, type FailureKind } from '../../common/errors.js';

/** HTTP status and gRPC code name per failure kind. */
const STATUS: Record<FailureKind, [number, string]> = {
  invalid_argument: [400, 'INVALID_ARGUMENT'],
  unauthenticated: [401, 'UNAUTHENTICATED'],
  permission_denied: [403, 'PERMISSION_DENIED'],
  not_found: [404, 'NOT_FOUND'],
  failed_precondition: [409, 'FAILED_PRECONDITION'],
  resource_exhausted: [429, 'RESOURCE_EXHAUSTED'],
  internal: [500, 'INTERNAL'],
  unimplemented: [501, 'UNIMPLEMENTED'],
  unavailable: [503, 'UNAVAILABLE'],
  deadline_exceeded: [504, 'DEADLINE_EXCEEDED'],
};

/** A failure that needs an HTTP status of its own (405, 413, 415) besides its gRPC code. */
export class HttpFailure extends Failure {
  constructor(
    kind: FailureKind,
    message: string,
    readonly httpStatus: number,
    readonly headers: Record<string, string> = {},
  ) {
    super(kind, message);
  }
}

export function errorBody(err: Failure): { status: number; body: unknown; headers: Record<string, string> } {
  const [status, code] = STATUS[err.kind];
  return {
    status: err instanceof HttpFailure ? err.httpStatus : status,
    body: { status: 'error', error: { code, message: err.message } },
    headers: err instanceof HttpFailure ? err.headers : {},
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

/** True for "application/json" with or without parameters such as charset. */
function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json';
}

/**
 * The request's JSON object body, read up to `maxBytes` before anything is
 * parsed. An oversized body fails with 413 as soon as its length is known.
 */
export async function readJsonObject(req: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  if (!isJson(req.headers['content-type'])) {
    throw new HttpFailure('invalid_argument', 'the body must be JSON (Content-Type: application/json)', 415);
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  const text = await readBounded(req, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Failure('invalid_argument', `the body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Failure('invalid_argument', 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function tooLarge(maxBytes: number): HttpFailure {
  return new HttpFailure('invalid_argument', `the body is larger than ${maxBytes} bytes (rest.max_body_bytes)`, 413, { connection: 'close' });
}

function readBounded(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        // Stop reading: the answer closes the connection.
        req.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new Failure('invalid_argument', `the body could not be read: ${err.message}`));
    };
    const onAborted = () => onError(new Error('the client went away'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** GET and DELETE take no body; one is refused and the connection closed rather than read. */
export function refuseBody(req: IncomingMessage): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > 0 || req.headers['transfer-encoding'] !== undefined) {
    throw new HttpFailure('invalid_argument', `${req.method} takes no body`, 400, { connection: 'close' });
  }
}
