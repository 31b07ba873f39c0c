/**
 * The seed's routes, each mapped onto one MinerHandlers method (the same
 * object gRPC calls, never a second implementation):
 *
 *   POST   /allocate                  -> allocate
 *   PUT    /challenge/{container_id}  -> runChallenge (the result's output tails)
 *   GET    /containers                -> listContainers
 *   DELETE /containers/{container_id} -> release
 *
 * Paths are split on "/" and compared segment by segment: no regular
 * expression ever sees the request's path.
 */
import type { IncomingMessage } from 'node:http';
import { Failure, invalidArgument } from '../../common/errors.js';
import { type ChallengeResult, type RunChallengeResponse } from '../../common/gen/polarise/v1/miner.js';
import type { Identity } from '../../common/identity.js';
import type { MinerMethod } from '../server/authorization.js';
import type { EventSink, MinerHandlers } from '../server/handlers.js';
import { HttpFailure, readJsonObject, refuseBody } from './http-io.js';
import { allocateAnswer, allocateRequest, challengeAnswer, challengeRequest, containerAnswer } from './seed-api.js';

export const MAX_PATH_LENGTH = 512;
const MAX_ID_LENGTH = 128;

export interface RouteContext {
  req: IncomingMessage;
  caller: Identity;
  handlers: MinerHandlers;
  maxBodyBytes: number;
  /** Aborted when the client goes away or the miner shuts down. */
  signal: AbortSignal;
}

export interface Route {
  method: MinerMethod;
  run(ctx: RouteContext): Promise<{ status: number; body: unknown }>;
}

/** The route for a method and path, or a 404 / 405 Failure. */
export function findRoute(httpMethod: string, rawUrl: string): Route {
  if (rawUrl.length > MAX_PATH_LENGTH) throw new HttpFailure('invalid_argument', `the path is longer than ${MAX_PATH_LENGTH} characters`, 414);
  const path = rawUrl.split('?', 1)[0]!;
  const parts = path.split('/');
  if (parts[0] !== '' || parts.length < 2 || parts.length > 3) throw unknownPath(path);
  const [, first, id] = parts;
  if (first === 'allocate' && id === undefined) return only(httpMethod, 'POST', () => allocateRoute);
  if (first === 'challenge' && id !== undefined) return only(httpMethod, 'PUT', () => challengeRoute(containerId(id)));
  if (first === 'containers' && id === undefined) return only(httpMethod, 'GET', () => listRoute);
  if (first === 'containers' && id !== undefined) return only(httpMethod, 'DELETE', () => releaseRoute(containerId(id)));
  throw unknownPath(path);
}

function unknownPath(path: string): Failure {
  const shown = path.length > 64 ? `${path.slice(0, 64)}...` : path;
  return new Failure('not_found', `no such endpoint "${shown}" (POST /allocate, PUT /challenge/{container_id}, GET /containers, DELETE /containers/{container_id})`);
}

/** The method is checked before the path's id is looked at. */
function only(httpMethod: string, allowed: string, route: () => Route): Route {
  if (httpMethod !== allowed) throw new HttpFailure('unimplemented', `${httpMethod.slice(0, 16)} is not allowed here; use ${allowed}`, 405, { allow: allowed });
  return route();
}

/** A path segment as a container id or name: decoded, bounded, printable characters only. */
function containerId(segment: string): string {
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    throw invalidArgument('container_id', 'is not valid percent-encoding');
  }
  if (!id || id.length > MAX_ID_LENGTH) throw invalidArgument('container_id', `must be 1 to ${MAX_ID_LENGTH} characters`);
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 95;
    if (!ok) throw invalidArgument('container_id', 'may hold only letters, digits, "-", "." and "_"');
  }
  return id;
}

const allocateRoute: Route = {
  method: 'allocate',
  async run({ req, caller, handlers, maxBodyBytes }) {
    const request = allocateRequest(await readJsonObject(req, maxBodyBytes));
    return { status: 200, body: allocateAnswer(await handlers.allocate(request, caller)) };
  },
};

const listRoute: Route = {
  method: 'listContainers',
  async run({ req, caller, handlers }) {
    refuseBody(req);
    const { containers } = await handlers.listContainers({}, caller);
    return { status: 200, body: { status: 'success', containers: containers.map(containerAnswer) } };
  },
};

function releaseRoute(id: string): Route {
  return {
    method: 'release',
    async run({ req, caller, handlers }) {
      refuseBody(req);
      const { containerId: released } = await handlers.release({ containerId: id }, caller);
      return { status: 200, body: { status: 'success', container_id: released } };
    },
  };
}

/** Collects a challenge's stream: the result and the sample count (the request asks for no OutputChunk events). */
class CollectingSink implements EventSink {
  result: ChallengeResult | undefined;
  samples = 0;

  constructor(readonly signal: AbortSignal) {}

  async send(event: RunChallengeResponse): Promise<void> {
    const e = event.event;
    if (e?.$case === 'sample') this.samples++;
    else if (e?.$case === 'result') this.result = e.value;
  }
}

function challengeRoute(id: string): Route {
  return {
    method: 'runChallenge',
    async run({ req, caller, handlers, maxBodyBytes, signal }) {
      const request = challengeRequest(id, await readJsonObject(req, maxBodyBytes));
      const sink = new CollectingSink(signal);
      await handlers.runChallenge(request, caller, sink);
      if (!sink.result) {
        if (signal.reason instanceof Failure) throw signal.reason;
        throw new Failure('internal', 'the challenge ended without a result; see the miner log');
      }
      return { status: 200, body: challengeAnswer(request.type, sink.result, sink.samples) };
    },
  };
}
