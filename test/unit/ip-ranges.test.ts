/** The SSRF guard's address classification: every range, every notation. */
import { classifyAddress, isAllowedAddress, parseIPv4Loose, parseIPv6 } from '../../src/webhooks/ip-ranges.js';

describe('classifyAddress', () => {
  it.each([
    // public
    ['8.8.8.8', 'public'],
    ['93.184.215.14', 'public'],
    ['172.15.255.255', 'public'],
    ['172.32.0.1', 'public'],
    ['100.63.255.255', 'public'],
    ['100.128.0.0', 'public'],
    ['169.253.255.255', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['2002:0808:0808::1', 'public'],
    // loopback
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    // private
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fec0::1', 'private'],
    // link-local, CGNAT
    ['169.254.1.1', 'link_local'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    // cloud metadata
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['[fd00:ec2::254]', 'metadata'],
    // multicast, unspecified, reserved
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['::8.8.8.8', 'reserved'],
  ])('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it.each([
    // decimal, hex, octal and short inet_aton forms of IPv4
    ['2130706433', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0x7F.1', 'loopback'],
    ['017700000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['127.0.1', 'loopback'],
    ['167772161', 'private'],
    ['0xa9.0xfe.0xa9.0xfe', 'metadata'],
    ['2852039166', 'metadata'],
    ['0', 'unspecified'],
    // IPv6 forms that embed IPv4
    ['::ffff:127.0.0.1', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:a9fe:a9fe::1', 'metadata'],
  ])('sees through the notation %s (%s)', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('answers undefined for what is not an IP address', () => {
    for (const text of ['example.com', 'localhost', '', '1.2.3.4.5', '256.1.1.1', '08.0.0.1', '4294967296', '1.16777216', '::g', '[::1']) {
      expect(classifyAddress(text)).toBeUndefined();
    }
  });
});

describe('parsers', () => {
  it('parses inet_aton forms into dotted quads', () => {
    expect(parseIPv4Loose('2130706433')).toBe('127.0.0.1');
    expect(parseIPv4Loose('0x7f.1')).toBe('127.0.0.1');
    expect(parseIPv4Loose('1.2.3.4.')).toBe('1.2.3.4');
    expect(parseIPv4Loose('4294967295')).toBe('255.255.255.255');
    expect(parseIPv4Loose('10.0x10.1')).toBe('10.16.0.1');
    expect(parseIPv4Loose('example')).toBeUndefined();
  });

  it('expands IPv6 text to 16 bytes', () => {
    expect(parseIPv6('::1')).toEqual([...new Array(15).fill(0), 1]);
    expect(parseIPv6('[::ffff:127.0.0.1]')).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]);
    expect(parseIPv6('2001:db8::ff00:42:8329')!.slice(10)).toEqual([0xff, 0, 0, 0x42, 0x83, 0x29]);
    expect(parseIPv6('127.0.0.1')).toBeUndefined();
  });
});

describe('isAllowedAddress', () => {
  it('lets only public addresses through by default', () => {
    expect(isAllowedAddress('8.8.8.8', { allowPrivate: false })).toBe(true);
    expect(isAllowedAddress('10.0.0.5', { allowPrivate: false })).toBe(false);
    expect(isAllowedAddress('not an ip', { allowPrivate: true })).toBe(false);
  });

  it('with WEBHOOK_ALLOW_PRIVATE admits loopback, private, link-local and CGNAT, never metadata or multicast', () => {
    for (const a of ['127.0.0.1', '::1', '10.0.0.5', '192.168.0.2', 'fd12::1', '169.254.3.4', '100.64.1.1']) expect(isAllowedAddress(a, { allowPrivate: true })).toBe(true);
    for (const a of ['169.254.169.254', 'fd00:ec2::254', '224.0.0.1', '0.0.0.0', '::', '255.255.255.255']) expect(isAllowedAddress(a, { allowPrivate: true })).toBe(false);
  });
});
