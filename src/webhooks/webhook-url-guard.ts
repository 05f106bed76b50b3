/**
 * The SSRF guard for webhook targets. It runs twice: when a request names a webhook URL (so a
 * client learns at once that it is refused) and again right before each delivery, because DNS
 * can change in between (rebinding). The delivery then connects to exactly the addresses this
 * guard validated (see http-delivery.ts), never to a second lookup's answer.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { classifyAddress, isAllowedAddress, parseIPv4Loose } from './ip-ranges.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type LookupAll = (hostname: string) => Promise<ResolvedAddress[]>;

export interface WebhookTarget {
  url: URL;
  /** Host name without brackets or trailing dot, lower case. */
  hostname: string;
  /** The validated addresses; a delivery connects only to these. */
  addresses: ResolvedAddress[];
}

export type GuardResult =
  | { ok: true; target: WebhookTarget }
  /** `transient`: DNS could not answer now (not "no such host"); a later attempt may pass. */
  | { ok: false; reason: string; transient: boolean };

export interface WebhookUrlGuardOptions {
  /** Host names (or `*.suffix`) exempt from address checks: WEBHOOK_ALLOW_HOSTS. */
  allowHosts: readonly string[];
  /** Lets loopback, private, link-local and CGNAT addresses through: WEBHOOK_ALLOW_PRIVATE. */
  allowPrivate: boolean;
  /** DNS resolution; tests inject a fake to simulate rebinding. */
  lookup?: LookupAll;
}

const systemLookup: LookupAll = async (hostname) => {
  const rows = await dnsLookup(hostname, { all: true, verbatim: true });
  return rows.map((r) => ({ address: r.address, family: r.family === 6 ? 6 : 4 }));
};

function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.') && h.length > 1) h = h.slice(0, -1);
  return h;
}

const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME', 'EAI_NODATA']);

export class WebhookUrlGuard {
  private readonly allowHosts: string[];
  private readonly allowPrivate: boolean;
  private readonly lookup: LookupAll;

  constructor(options: WebhookUrlGuardOptions) {
    this.allowHosts = options.allowHosts.map(normalizeHost);
    this.allowPrivate = options.allowPrivate;
    this.lookup = options.lookup ?? systemLookup;
  }

  private allowListed(hostname: string): boolean {
    return this.allowHosts.some((h) => (h.startsWith('*.') ? hostname.endsWith(h.slice(1)) : h === hostname));
  }

  /**
   * Parses, resolves and validates a webhook URL. Never throws for a bad URL: the reason comes
   * back as a sentence, for a 400 at request time or the delivery log at delivery time.
   *
   * @example
   * const r = await guard.check('http://169.254.169.254/latest/meta-data');
   * // { ok: false, reason: '169.254.169.254 is a cloud metadata address; …', transient: false }
   */
  async check(raw: string): Promise<GuardResult> {
    const refuse = (reason: string, transient = false): GuardResult => ({ ok: false, reason, transient });
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return refuse('is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return refuse('must use http or https');
    if (url.username || url.password) return refuse('must not carry credentials (user:password@)');
    const hostname = normalizeHost(url.hostname);
    if (!hostname) return refuse('has no host');
    const exempt = this.allowListed(hostname);

    let addresses: ResolvedAddress[];
    // The WHATWG parser has already turned 2130706433, 0x7f.1 or 017700000001 into 127.0.0.1;
    // parseIPv4Loose repeats that for any caller that hands over an unparsed host.
    const literal = isIP(hostname) ? hostname : parseIPv4Loose(hostname);
    if (literal !== undefined) {
      addresses = [{ address: literal, family: isIP(literal) === 6 ? 6 : 4 }];
    } else {
      try {
        addresses = await this.lookup(hostname);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        if (NOT_FOUND.has(code)) return refuse(`host ${hostname} does not resolve`);
        return refuse(`host ${hostname} could not be resolved now (${code})`, true);
      }
      if (addresses.length === 0) return refuse(`host ${hostname} does not resolve`);
    }
    if (!exempt) {
      // Every address must pass: the connection may use any of them.
      for (const { address } of addresses) {
        if (!isAllowedAddress(address, { allowPrivate: this.allowPrivate })) {
          const cls = classifyAddress(address) ?? 'invalid';
          const what = literal !== undefined ? address : `${hostname} resolves to ${address}, which`;
          return refuse(`${what} is ${DESCRIPTIONS[cls] ?? 'not a public address'}; webhooks go only to public addresses`);
        }
      }
    }
    return { ok: true, target: { url, hostname, addresses } };
  }
}

const DESCRIPTIONS: Record<string, string> = {
  unspecified: 'the unspecified address',
  loopback: 'a loopback address',
  private: 'a private address',
  link_local: 'a link-local address',
  cgnat: 'a carrier-grade NAT address',
  metadata: 'a cloud metadata address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};
