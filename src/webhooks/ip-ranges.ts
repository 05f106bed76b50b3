/**
 * Classifies IP addresses for the webhook SSRF guard. Pure functions over bytes, so every rule
 * is unit-tested without DNS. Anything that is not plainly a public unicast address is refused
 * by the guard: loopback, private, link-local, CGNAT, multicast, unspecified, reserved and
 * documentation ranges, and cloud metadata endpoints; IPv6 forms that embed an IPv4 address
 * (mapped, translated, compatible, NAT64, 6to4) are judged by the IPv4 address inside.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'metadata'
  | 'multicast'
  | 'reserved';

/** Classes WEBHOOK_ALLOW_PRIVATE=1 lets through. Metadata, multicast and the rest never pass. */
export const PRIVATE_CLASSES: ReadonlySet<AddressClass> = new Set(['loopback', 'private', 'link_local', 'cgnat']);

type Rule = [bytes: number[], prefix: number, cls: AddressClass];

// First match wins, so the single metadata addresses come before the ranges holding them.
const V4_RULES: Rule[] = [
  [[169, 254, 169, 254], 32, 'metadata'], // AWS, GCP, Azure, OpenStack
  [[169, 254, 170, 2], 32, 'metadata'], // AWS ECS task credentials
  [[169, 254, 170, 23], 32, 'metadata'], // AWS EKS pod identity
  [[100, 100, 100, 200], 32, 'metadata'], // Alibaba Cloud
  [[192, 0, 0, 192], 32, 'metadata'], // Oracle Cloud
  [[0, 0, 0, 0], 32, 'unspecified'],
  [[0, 0, 0, 0], 8, 'reserved'], // "this network"; Linux routes 0.x to the host itself
  [[10, 0, 0, 0], 8, 'private'],
  [[100, 64, 0, 0], 10, 'cgnat'],
  [[127, 0, 0, 0], 8, 'loopback'],
  [[169, 254, 0, 0], 16, 'link_local'],
  [[172, 16, 0, 0], 12, 'private'],
  [[192, 0, 0, 0], 24, 'reserved'], // IETF protocol assignments
  [[192, 0, 2, 0], 24, 'reserved'], // TEST-NET-1
  [[192, 88, 99, 0], 24, 'reserved'], // 6to4 relay anycast
  [[192, 168, 0, 0], 16, 'private'],
  [[198, 18, 0, 0], 15, 'reserved'], // benchmarking
  [[198, 51, 100, 0], 24, 'reserved'], // TEST-NET-2
  [[203, 0, 113, 0], 24, 'reserved'], // TEST-NET-3
  [[224, 0, 0, 0], 4, 'multicast'],
  [[240, 0, 0, 0], 4, 'reserved'], // includes 255.255.255.255 (broadcast)
];

const V6_RULES: Rule[] = [
  [v6('fd00:ec2::254'), 128, 'metadata'], // AWS IMDS over IPv6
  [v6('::'), 128, 'unspecified'],
  [v6('::1'), 128, 'loopback'],
  [v6('64:ff9b:1::'), 48, 'reserved'], // local-use NAT64
  [v6('100::'), 64, 'reserved'], // discard-only
  [v6('2001::'), 23, 'reserved'], // IETF protocol assignments (Teredo, ORCHID, …)
  [v6('2001:db8::'), 32, 'reserved'], // documentation
  [v6('3fff::'), 20, 'reserved'], // documentation
  [v6('5f00::'), 16, 'reserved'], // SRv6 SIDs
  [v6('fc00::'), 7, 'private'], // unique local
  [v6('fe80::'), 10, 'link_local'],
  [v6('fec0::'), 10, 'private'], // deprecated site-local
  [v6('ff00::'), 8, 'multicast'],
];

const NAT64: Rule = [v6('64:ff9b::'), 96, 'public'];

function v6(text: string): number[] {
  const bytes = parseIPv6(text);
  if (!bytes) throw new Error(`bad IPv6 literal in the rule table: ${text}`);
  return bytes;
}

function matches(bytes: number[], rule: Rule): boolean {
  const [net, prefix] = rule;
  for (let bit = 0; bit < prefix; bit += 8) {
    const take = Math.min(8, prefix - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[bit / 8]! ^ net[bit / 8]!) & mask) !== 0) return false;
  }
  return true;
}

/**
 * Parses IPv4 the way inet_aton (and so many HTTP clients) does: one to four parts, each
 * decimal, `0x` hex or leading-zero octal, the last part filling the remaining bytes. Returns
 * the dotted quad, or undefined when `text` is not such a number.
 *
 * @example
 * parseIPv4Loose('2130706433'); // '127.0.0.1'
 * parseIPv4Loose('0x7f.1');     // '127.0.0.1'
 */
export function parseIPv4Loose(text: string): string | undefined {
  const parts = text.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop(); // a trailing dot
  if (parts.length < 1 || parts.length > 4) return undefined;
  const values: number[] = [];
  for (const p of parts) {
    let v: number;
    if (/^0x[0-9a-f]*$/i.test(p)) v = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]+$/.test(p)) v = parseInt(p, 8);
    else if (/^(0|[1-9][0-9]*)$/.test(p)) v = Number(p);
    else return undefined;
    if (!Number.isSafeInteger(v)) return undefined;
    values.push(v);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255)) return undefined;
  if (last >= 256 ** (4 - values.length)) return undefined;
  const bytes = [...values];
  for (let i = 4 - values.length - 1; i >= 0; i--) bytes.push(Math.floor(last / 256 ** i) % 256);
  return bytes.join('.');
}

/**
 * IPv6 text (brackets and a `%zone` allowed) to 16 bytes, or undefined.
 *
 * @example
 * parseIPv6('[::ffff:127.0.0.1]'); // [0,…,0,255,255,127,0,0,1]
 */
export function parseIPv6(text: string): number[] | undefined {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!isIPv6(s)) return undefined;
  const toGroups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const q = g.split('.').map(Number);
        out.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const halves = s.split('::');
  const head = toGroups(halves[0]!);
  const tail = halves.length > 1 ? toGroups(halves[1]!) : [];
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

function classifyV4(bytes: number[]): AddressClass {
  for (const rule of V4_RULES) if (matches(bytes, rule)) return rule[2];
  return 'public';
}

function classifyV6(bytes: number[]): AddressClass {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  const last4 = bytes.slice(12);
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated) reach the IPv4 address itself.
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return classifyV4(last4);
  if (zeros(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && zeros(10, 12)) return classifyV4(last4);
  for (const rule of V6_RULES) if (matches(bytes, rule)) return rule[2];
  // ::a.b.c.d (deprecated "compatible" form): never a real receiver; judged by the IPv4 inside.
  if (zeros(0, 12)) {
    const inner = classifyV4(last4);
    return inner === 'public' ? 'reserved' : inner;
  }
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) route to the embedded IPv4 address.
  if (matches(bytes, NAT64)) return classifyV4(last4);
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return classifyV4(bytes.slice(2, 6));
  // Only 2000::/3 is global unicast; everything else is unassigned or special.
  if ((bytes[0]! & 0xe0) !== 0x20) return 'reserved';
  return 'public';
}

/**
 * The class of an IP address (IPv4 in any inet_aton form, or IPv6), or undefined when `text`
 * is not an IP address at all.
 *
 * @example
 * classifyAddress('169.254.169.254'); // 'metadata'
 * classifyAddress('[::ffff:10.0.0.1]'); // 'private'
 */
export function classifyAddress(text: string): AddressClass | undefined {
  const v4 = isIPv4(text) ? text : parseIPv4Loose(text);
  if (v4 !== undefined) return classifyV4(v4.split('.').map(Number));
  const bytes = parseIPv6(text);
  return bytes ? classifyV6(bytes) : undefined;
}

/**
 * Whether an address may receive webhooks under the given exception.
 *
 * @example
 * isAllowedAddress('10.0.0.5', { allowPrivate: true }); // true
 * isAllowedAddress('169.254.169.254', { allowPrivate: true }); // false: metadata never passes
 */
export function isAllowedAddress(text: string, opts: { allowPrivate: boolean }): boolean {
  const cls = classifyAddress(text);
  return cls === 'public' || (opts.allowPrivate && cls !== undefined && PRIVATE_CLASSES.has(cls));
}
