/**
 * The one translation of a Docker engine error into a Failure a client can
 * act on: engine unreachable → unavailable; no such container → not found;
 * container not running → failed precondition; address pools exhausted →
 * resource exhausted; anything else → internal, naming what was being done.
 */
import { Failure, errorMessage, failedPrecondition, notFound, resourceExhausted, unavailable } from '../../common/errors.js';

/** Socket errors that mean the engine cannot be reached at all. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/** `doing` says what was being done ("create network x"); `containerId` names the container a 404 or 409 is about. */
export function dockerFailure(err: unknown, doing: string, containerId?: string): Failure {
  if (err instanceof Failure) return err;
  const e = err as { statusCode?: number; code?: string; json?: { message?: string } };
  if (e.code && UNREACHABLE.has(e.code)) return unavailable(`the Docker engine is not reachable (${doing}: ${e.code})`);
  const message = e.json?.message ?? errorMessage(err);
  if (containerId && e.statusCode === 404) return notFound(`container ${containerId} not found`);
  if (containerId && e.statusCode === 409) return failedPrecondition(`container ${containerId} is not running (${message})`);
  if (/could not find an available, non-overlapping IPv4 address pool/i.test(message)) {
    return resourceExhausted(`no free network address pool left on this host (${doing})`);
  }
  return new Failure('internal', `${doing}: ${message}`);
}
