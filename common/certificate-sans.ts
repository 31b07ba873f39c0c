/**
 * Subject alternative names read from a certificate's DER, not from Node's
 * `subjectaltname` text (whose separators a crafted name could imitate).
 */
import forge from 'node-forge';

export interface SubjectAltNames {
  uris: string[];
  dns: string[];
  /** How many subjectAltName extensions the certificate carries (RFC 5280 allows one). */
  extensions: number;
}

/** Larger than any certificate the subnet issues; nothing longer is parsed. */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;
const SAN_OID = '2.5.29.17';
const CONTEXT = forge.asn1.Class.CONTEXT_SPECIFIC;

function children(node: forge.asn1.Asn1 | undefined): forge.asn1.Asn1[] {
  return node && Array.isArray(node.value) ? (node.value as forge.asn1.Asn1[]) : [];
}

/** The Extension nodes of a certificate: tbsCertificate's [3] EXPLICIT SEQUENCE. */
function extensionsOf(certificate: forge.asn1.Asn1): forge.asn1.Asn1[] {
  const tbs = children(certificate)[0];
  const wrapper = children(tbs).find((n) => n.tagClass === CONTEXT && n.type === 3);
  return children(children(wrapper)[0]);
}

function addNames(octets: forge.asn1.Asn1, out: SubjectAltNames): void {
  if (typeof octets.value !== 'string') throw new Error('subjectAltName is not an OCTET STRING');
  const names = forge.asn1.fromDer(forge.util.createBuffer(octets.value), true);
  for (const name of children(names)) {
    if (name.tagClass !== CONTEXT || typeof name.value !== 'string') continue;
    if (name.type === 6) out.uris.push(name.value);
    else if (name.type === 2) out.dns.push(name.value);
  }
}

/** The SANs of a DER certificate; throws on DER it cannot read. */
export function subjectAltNames(der: Uint8Array): SubjectAltNames {
  if (der.length > MAX_CERTIFICATE_BYTES) throw new Error(`the certificate is over ${MAX_CERTIFICATE_BYTES} bytes`);
  const root = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(der).toString('binary')), true);
  const out: SubjectAltNames = { uris: [], dns: [], extensions: 0 };
  for (const extension of extensionsOf(root)) {
    const [oid, ...rest] = children(extension);
    if (!oid || typeof oid.value !== 'string' || forge.asn1.derToOid(forge.util.createBuffer(oid.value)) !== SAN_OID) continue;
    out.extensions++;
    addNames(rest[rest.length - 1]!, out);
  }
  return out;
}
