/** Which roles may call which MinerService method, and who the caller is. */
import { identityFromSubjectAltName, type Identity, type Role } from '../../common/identity.js';
import { Failure } from '../../common/errors.js';

export type MinerMethod = 'allocate' | 'runChallenge' | 'listContainers' | 'release' | 'getCapacity';

/** Owner checks (a renter touches only its own containers) live in the handlers. */
export const POLICY: Record<MinerMethod, readonly Role[]> = {
  allocate: ['validator', 'renter'],
  runChallenge: ['validator', 'renter', 'operator'],
  listContainers: ['validator', 'renter', 'operator'],
  release: ['validator', 'renter', 'operator'],
  getCapacity: ['validator', 'renter', 'operator'],
};

export interface PeerCertificateLike {
  subjectaltname?: string;
}

/** The caller's identity from its verified certificate, if it may call `method`. */
export function authorize(method: MinerMethod, peer: PeerCertificateLike | undefined): Identity {
  if (!peer || Object.keys(peer).length === 0) {
    throw new Failure('unauthenticated', 'a client certificate signed by the subnet CA is required');
  }
  const identity = identityFromSubjectAltName(peer.subjectaltname);
  if (!identity) {
    throw new Failure(
      'permission_denied',
      'the client certificate names no Polarise role (expected a SAN URI spiffe://polarise/<validator|renter|operator>/<name>)',
    );
  }
  if (!POLICY[method].includes(identity.role)) {
    throw new Failure('permission_denied', `role "${identity.role}" may not call ${method}`);
  }
  return identity;
}

export function isOperator(identity: Identity): boolean {
  return identity.role === 'operator';
}
