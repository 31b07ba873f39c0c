/**
 * Who a caller is, read from its client certificate: the SAN URI
 * spiffe://polarise/<role>/<name>.
 */
export const ROLES = ['validator', 'renter', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export interface Identity {
  /** The SAN URI; the owner label of what the caller creates. */
  uri: string;
  role: Role;
  name: string;
}

export const TRUST_DOMAIN = 'polarise';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function identityUri(role: Role, name: string): string {
  return `spiffe://${TRUST_DOMAIN}/${role}/${name}`;
}

export function isValidName(name: string): boolean {
  return NAME.test(name);
}

export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text);
}

/** Parses one SAN URI; null when it is not a Polarise identity. */
export function parseIdentityUri(uri: string): Identity | null {
  const match = /^spiffe:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
  if (!match || match[1] !== TRUST_DOMAIN) return null;
  const [, , role, name] = match;
  if (!isRole(role!) || !isValidName(name!)) return null;
  return { uri, role, name: name! };
}

/**
 * The Polarise identity of a certificate whose SANs carry exactly one URI.
 * A certificate with several URI SANs names no identity: which one counts
 * must never depend on their order or on how they are printed.
 */
export function identityFromUris(uris: readonly string[]): Identity | null {
  if (uris.length !== 1) return null;
  return parseIdentityUri(uris[0]!);
}
