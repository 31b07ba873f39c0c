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
 * Finds the Polarise identity in Node's `subjectaltname` text
 * ("DNS:x, URI:spiffe://polarise/validator/v1, IP Address:...").
 */
export function identityFromSubjectAltName(san: string | undefined): Identity | null {
  if (!san) return null;
  for (const part of san.split(/,\s*/)) {
    if (!part.startsWith('URI:')) continue;
    const identity = parseIdentityUri(part.slice(4));
    if (identity) return identity;
  }
  return null;
}
