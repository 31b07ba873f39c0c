/**
 * The firewall rules that keep allocations away from the host and from
 * private networks, per address family, written the way `iptables -S`
 * prints them so that one listing tells which are in place.
 *
 * IPv4 (iptables):
 *   INPUT   -i pz+ -j DROP                 no host service through a bridge gateway
 *   FWD     -i pz+ -j POLARISE-EGRESS      FWD = DOCKER-USER when Docker made it, else FORWARD
 *   POLARISE-EGRESS: network.egress_allow entries RETURN first, then DROP
 *   169.254.0.0/16 (link-local, cloud metadata), 10/8, 172.16/12,
 *   192.168/16, 100.64/10 (carrier-grade NAT).
 * IPv6 (ip6tables): allocation networks are IPv4-only (the miner never
 * enables IPv6 on them), so nothing from an allocation bridge has any
 * business reaching the host or being forwarded over IPv6:
 *   INPUT   -i pz+ -j DROP                 the host's link-local, ULA and global addresses
 *   FWD     -i pz+ -j DROP                 ULA, link-local and everything else
 * Rules rather than disabling IPv6 because engines differ: Docker 20.10
 * turns IPv6 off inside a container on a non-IPv6 network, later versions
 * keep ::1 and a daemon's default-network-opts can enable IPv6 on new
 * networks; the host side of each bridge keeps its fe80:: address either way.
 *
 * With docker.internal_network true Docker already stops forwarding; the
 * egress rules are installed in both modes so that the rule set (shared by
 * every miner on the host, since all bridges match pz+) does not depend on
 * one miner's configuration.
 */
export const BRIDGE_PREFIX = 'pz';
export const EGRESS_CHAIN = 'POLARISE-EGRESS';

/** Blocked when allocations have a route out (docker.internal_network false). */
export const PRIVATE_IPV4 = ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'];

export type Family = 'ipv4' | 'ipv6';

export interface Rule {
  chain: string;
  /** The rule after the chain name, as `iptables -S` prints it. */
  spec: string[];
  /** Inserted first in its chain, or appended. */
  at: 'top' | 'end';
}

export interface FamilyPlan {
  family: Family;
  binary: 'iptables' | 'ip6tables';
  /** Chains of our own that must exist before the rules. */
  chains: string[];
  rules: Rule[];
}

/** `-A CHAIN spec...`: how a rule appears in `iptables -S`. */
export function ruleLine(rule: Rule): string {
  return `-A ${rule.chain} ${rule.spec.join(' ')}`;
}

/** Where forwarded traffic is filtered first: Docker's DOCKER-USER chain when the listing has it. */
export function forwardChain(listing: ReadonlySet<string>): string {
  return listing.has('-N DOCKER-USER') ? 'DOCKER-USER' : 'FORWARD';
}

/** The rules for one family, given that family's `-S` listing (to pick the forward chain). */
export function familyPlan(family: Family, listing: ReadonlySet<string>, egressAllow: readonly string[]): FamilyPlan {
  const bridges = ['-i', `${BRIDGE_PREFIX}+`];
  const forward = forwardChain(listing);
  if (family === 'ipv6') {
    return {
      family,
      binary: 'ip6tables',
      chains: [],
      rules: [
        { chain: 'INPUT', spec: [...bridges, '-j', 'DROP'], at: 'top' },
        { chain: forward, spec: [...bridges, '-j', 'DROP'], at: 'top' },
      ],
    };
  }
  const allows = egressAllow.flatMap(allowRules);
  const drops = PRIVATE_IPV4.map((cidr): Rule => ({ chain: EGRESS_CHAIN, spec: ['-d', cidr, '-j', 'DROP'], at: 'end' }));
  return {
    family,
    binary: 'iptables',
    chains: [EGRESS_CHAIN],
    rules: [
      { chain: 'INPUT', spec: [...bridges, '-j', 'DROP'], at: 'top' },
      { chain: forward, spec: [...bridges, '-j', EGRESS_CHAIN], at: 'top' },
      ...allows,
      ...drops,
    ],
  };
}

/** One network.egress_allow entry ("ADDR[/PREFIX][:PORT]", validated by the config) as RETURN rules. */
export function allowRules(entry: string): Rule[] {
  const [address, port] = entry.split(':') as [string, string | undefined];
  const [ip, prefixText] = address.split('/') as [string, string | undefined];
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  const destination = ['-d', `${networkAddress(ip, prefix)}/${prefix}`];
  if (port === undefined) return [{ chain: EGRESS_CHAIN, spec: [...destination, '-j', 'RETURN'], at: 'top' }];
  return ['udp', 'tcp'].map((proto): Rule => ({
    chain: EGRESS_CHAIN,
    spec: [...destination, '-p', proto, '-m', proto, '--dport', String(Number(port)), '-j', 'RETURN'],
    at: 'top',
  }));
}

/** The network address of `ip`/`prefix` (iptables prints CIDRs that way). */
function networkAddress(ip: string, prefix: number): string {
  const value = ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(value / size) * size;
  return [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.');
}
