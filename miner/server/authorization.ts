/** Which roles may call which MinerService method, and who the caller is. */
import { subjectAltNames } from '../../common/certificate-sans.js';
import { identityFromUris, type Identity, type Role } from '../../common/identity.js';
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
  /** The certificate's DER, which the SANs are read from. */
  raw?: Uint8Array;
}

const NO_ROLE = 'the client certificate names no Polarise role (expected exactly one SAN URI spiffe://polarise/<validator|renter|operator>/<name>)';

/** The one URI SAN of the certificate, as an identity, or a permission_denied Failure. */
function identityOf(peer: PeerCertificateLike): Identity {
  let uris: string[];
  try {
    const sans = subjectAltNames(peer.raw ?? new Uint8Array());
    uris = sans.extensions === 1 ? sans.uris : [];
  } catch {
    throw new Failure('permission_denied', 'the client certificate could not be read');
  }
  if (uris.length > 1) throw new Failure('permission_denied', `the client certificate names ${uris.length} SAN URIs; exactly one is allowed`);
  const identity = identityFromUris(uris);
  if (!identity) throw new Failure('permission_denied', NO_ROLE);
  return identity;
}

/** The caller's identity from its verified certificate, if it may call `method`. */
export function authorize(method: MinerMethod, peer: PeerCertificateLike | undefined): Identity {
  if (!peer || Object.keys(peer).length === 0) {
    throw new Failure('unauthenticated', 'a client certificate signed by the subnet CA is required');
  }
  const identity = identityOf(peer);
  if (!POLICY[method].includes(identity.role)) {
    throw new Failure('permission_denied', `role "${identity.role}" may not call ${method}`);
  }
  return identity;
}

export function isOperator(identity: Identity): boolean {
  return identity.role === 'operator';
}
