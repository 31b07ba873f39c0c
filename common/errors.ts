/**
 * Failures the domain code reports, each with the kind a client must see.
 * Domain modules throw these; the gRPC layer maps the kind to a status code,
 * so no domain module needs to import gRPC.
 */
export type FailureKind =
  | 'invalid_argument'
  | 'not_found'
  | 'permission_denied'
  | 'unauthenticated'
  | 'resource_exhausted'
  | 'deadline_exceeded'
  | 'unavailable'
  | 'failed_precondition'
  | 'unimplemented'
  | 'internal';

export class Failure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'Failure';
  }
}

/** A bad request field; the message names the field first. */
export function invalidArgument(field: string, problem: string): Failure {
  return new Failure('invalid_argument', `${field}: ${problem}`);
}

export function notFound(what: string): Failure {
  return new Failure('not_found', what);
}

export function permissionDenied(what: string): Failure {
  return new Failure('permission_denied', what);
}

export function resourceExhausted(what: string): Failure {
  return new Failure('resource_exhausted', what);
}

export function unavailable(what: string): Failure {
  return new Failure('unavailable', what);
}

/** The request is valid but the state it needs is not there (e.g. the container is not running). */
export function failedPrecondition(what: string): Failure {
  return new Failure('failed_precondition', what);
}

/** The message of anything thrown, for logs and wrapped errors. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') return err.message;
  return String(err);
}

export function isFailure(err: unknown): err is Failure {
  return err instanceof Failure;
}
