import { expect } from 'chai';
import { Failure } from '../../common/errors.js';
import { createLogger } from '../../common/logger.js';
import { HostFirewall, type RunTool } from '../../miner/containers/host-firewall.js';
import { allowRules, familyPlan, ruleLine } from '../../miner/containers/isolation-rules.js';

/** A pretend iptables/ip6tables: a filter table per binary, `-S`, `-C`, `-I`, `-A`, `-N`, `-D`. */
class FakeTables {
  readonly tables = new Map<string, string[]>([
    ['iptables', ['-P INPUT ACCEPT', '-P FORWARD DROP', '-N DOCKER-USER', '-A DOCKER-USER -j RETURN']],
    ['ip6tables', ['-P INPUT ACCEPT', '-P FORWARD ACCEPT']],
  ]);
  broken = new Set<string>();
  calls: string[] = [];

  run: RunTool = async (binary, argv) => {
    const args = argv.filter((a, i) => !(a === '-w' || argv[i - 1] === '-w'));
    this.calls.push(`${binary} ${args.join(' ')}`);
    if (this.broken.has(binary)) throw new Error(`${binary}: simulated failure`);
    const lines = this.tables.get(binary)!;
    const [op, chain, ...spec] = args;
    const line = `-A ${chain} ${spec.join(' ')}`;
    if (op === '-S') return lines.join('\n') + '\n';
    if (op === '-C' && !lines.includes(line)) throw new Error('Bad rule');
    if (op === '-N') lines.push(`-N ${chain}`);
    if (op === '-A') lines.push(line);
    if (op === '-I') lines.splice(lines.findIndex((l) => l.startsWith(`-A ${chain} `) || l === `-N ${chain}`) + 1 || lines.length, 0, line);
    if (op === '-D') lines.splice(lines.indexOf(line), 1);
    return '';
  };
}

const log = createLogger({ component: 'test' }, { write: () => undefined });

describe('isolation rules', () => {
  it('IPv4: host input dropped, forwarding through our chain from DOCKER-USER, private ranges dropped after allowed ones', () => {
    const plan = familyPlan('ipv4', new Set(['-N DOCKER-USER']), ['10.0.0.2:53', '192.168.7.9/24']);
    expect(plan.rules.map(ruleLine)).to.deep.equal([
      '-A INPUT -i pz+ -j DROP',
      '-A DOCKER-USER -i pz+ -j POLARISE-EGRESS',
      '-A POLARISE-EGRESS -d 10.0.0.2/32 -p udp -m udp --dport 53 -j RETURN',
      '-A POLARISE-EGRESS -d 10.0.0.2/32 -p tcp -m tcp --dport 53 -j RETURN',
      '-A POLARISE-EGRESS -d 192.168.7.0/24 -j RETURN',
      '-A POLARISE-EGRESS -d 169.254.0.0/16 -j DROP',
      '-A POLARISE-EGRESS -d 10.0.0.0/8 -j DROP',
      '-A POLARISE-EGRESS -d 172.16.0.0/12 -j DROP',
      '-A POLARISE-EGRESS -d 192.168.0.0/16 -j DROP',
      '-A POLARISE-EGRESS -d 100.64.0.0/10 -j DROP',
    ]);
  });

  it('IPv6: nothing from an allocation bridge to the host or forwarded; FORWARD without DOCKER-USER', () => {
    expect(familyPlan('ipv6', new Set(), []).rules.map(ruleLine)).to.deep.equal(['-A INPUT -i pz+ -j DROP', '-A FORWARD -i pz+ -j DROP']);
  });

  it('writes CIDRs as iptables prints them', () => {
    expect(allowRules('10.1.2.3/8')[0]!.spec.slice(0, 2)).to.deep.equal(['-d', '10.0.0.0/8']);
    expect(allowRules('10.1.2.3/0')[0]!.spec.slice(0, 2)).to.deep.equal(['-d', '0.0.0.0/0']);
    expect(allowRules('10.1.2.3')[0]!.spec.slice(0, 2)).to.deep.equal(['-d', '10.1.2.3/32']);
  });
});

describe('host firewall', () => {
  it('adds what is missing once, then only lists (two commands a check)', async () => {
    const fake = new FakeTables();
    const fw = new HostFirewall({ egressAllow: [], ipv6: true, run: fake.run }, log);
    expect(() => fw.assertInPlace(), 'before the first check').to.throw(Failure);
    const first = await fw.ensure();
    expect(first.inPlace).to.equal(true);
    expect(first.added).to.have.length(10);
    expect(fake.tables.get('ip6tables')).to.include('-A INPUT -i pz+ -j DROP');
    fw.assertInPlace();
    fake.calls = [];
    const second = await fw.ensure();
    expect(second.added).to.deep.equal([]);
    expect(fake.calls).to.deep.equal(['iptables -S', 'ip6tables -S']);
  });

  it('restores a deleted rule on the next check', async () => {
    const fake = new FakeTables();
    const fw = new HostFirewall({ egressAllow: [], ipv6: true, run: fake.run }, log);
    await fw.ensure();
    await fake.run('iptables', ['-D', 'INPUT', '-i', 'pz+', '-j', 'DROP']);
    const status = await fw.ensure();
    expect(status.inPlace).to.equal(true);
    expect(status.added).to.deep.equal(['iptables -A INPUT -i pz+ -j DROP']);
  });

  it('fails closed: a broken tool (either family) means not in place, and Allocate is refused UNAVAILABLE', async () => {
    const fake = new FakeTables();
    const fw = new HostFirewall({ egressAllow: [], ipv6: true, run: fake.run }, log);
    await fw.ensure();
    fake.broken.add('ip6tables');
    const status = await fw.ensure();
    expect(status.inPlace).to.equal(false);
    expect(status.problems).to.deep.equal(['ip6tables: simulated failure']);
    let failure: Failure | undefined;
    try {
      fw.assertInPlace();
    } catch (err) {
      failure = err as Failure;
    }
    expect(failure?.kind).to.equal('unavailable');
    expect(failure?.message).to.match(/network isolation .* not in place/);
    expect(failure?.message).to.not.include('simulated');
    fake.broken.clear();
    expect((await fw.ensure()).inPlace).to.equal(true);
  });

  it('without IPv6 in the kernel, only iptables is needed', async () => {
    const fake = new FakeTables();
    fake.broken.add('ip6tables');
    const fw = new HostFirewall({ egressAllow: [], ipv6: false, run: fake.run }, log);
    expect((await fw.ensure()).inPlace).to.equal(true);
  });

  it('concurrent checks share one run', async () => {
    const fake = new FakeTables();
    const fw = new HostFirewall({ egressAllow: [], ipv6: true, run: fake.run }, log);
    await Promise.all([fw.ensure(), fw.ensure(), fw.ensure()]);
    expect(fake.calls.filter((c) => c.endsWith(' -S'))).to.have.length(2);
  });
});
