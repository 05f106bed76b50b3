/** The SSRF guard: URL rules, DNS answers, exceptions, and a rebinding resolver. */
import { WebhookUrlGuard, type LookupAll, type ResolvedAddress } from '../../src/webhooks/webhook-url-guard.js';

const dns = (table: Record<string, string[] | string>): LookupAll => async (hostname) => {
  const entry = table[hostname];
  if (entry === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  if (typeof entry === 'string') throw Object.assign(new Error(`getaddrinfo ${entry} ${hostname}`), { code: entry });
  return entry.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
};

const strict = new WebhookUrlGuard({
  allowHosts: [],
  allowPrivate: false,
  lookup: dns({ 'hooks.example.com': ['93.184.215.14'], 'internal.example.com': ['10.1.2.3'], 'mixed.example.com': ['93.184.215.14', '127.0.0.1'], 'v6.example.com': ['2606:4700::6810:1'], 'localhost': ['127.0.0.1', '::1'], 'flaky.example.com': 'EAI_AGAIN' }),
});

describe('WebhookUrlGuard', () => {
  it('accepts a public host and returns the addresses it validated', async () => {
    const r = await strict.check('https://hooks.example.com/hyperadapt?x=1');
    expect(r).toMatchObject({ ok: true, target: { hostname: 'hooks.example.com', addresses: [{ address: '93.184.215.14', family: 4 }] } });
    expect((await strict.check('https://v6.example.com/')).ok).toBe(true);
    expect((await strict.check('http://93.184.215.14:8443/')).ok).toBe(true);
  });

  it.each([
    ['http://127.0.0.1/', /loopback/],
    ['http://localhost:8080/hook', /localhost resolves to 127\.0\.0\.1.*loopback/],
    ['http://[::1]/', /loopback/],
    ['http://10.0.0.1/', /private/],
    ['http://internal.example.com/', /internal\.example\.com resolves to 10\.1\.2\.3/],
    ['http://mixed.example.com/', /resolves to 127\.0\.0\.1/],
    ['http://169.254.169.254/latest/meta-data/', /metadata/],
    ['http://[fd00:ec2::254]/', /metadata/],
    ['http://100.64.0.1/', /carrier-grade NAT/],
    ['http://[::ffff:127.0.0.1]/', /loopback/],
    ['http://[::ffff:a9fe:a9fe]/', /metadata/],
    ['http://2130706433/', /loopback/],
    ['http://0x7f.1/', /loopback/],
    ['http://0x7f000001/', /loopback/],
    ['http://017700000001/', /loopback/],
    ['http://0/', /unspecified/],
    ['http://[fe80::1]/', /link-local/],
    ['http://224.0.0.1/', /multicast/],
    ['http://nowhere.example.com/', /does not resolve/],
    ['http://user:secret@hooks.example.com/', /credentials/],
    ['ftp://hooks.example.com/', /http or https/],
    ['not a url', /not a valid URL/],
  ])('refuses %s', async (url, reason) => {
    const r = await strict.check(url);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(reason);
      expect(r.transient).toBe(false);
    }
  });

  it('reports a DNS failure that is not "no such host" as transient', async () => {
    const r = await strict.check('https://flaky.example.com/');
    expect(r).toMatchObject({ ok: false, transient: true });
  });

  it('normalises numeric hosts the way the URL parser does, so what is checked is what is used', async () => {
    const guard = new WebhookUrlGuard({ allowHosts: [], allowPrivate: true });
    const r = await guard.check('http://2130706433:9000/x');
    expect(r.ok && r.target.url.href).toBe('http://127.0.0.1:9000/x');
  });

  it('with WEBHOOK_ALLOW_PRIVATE admits private targets but still refuses metadata', async () => {
    const guard = new WebhookUrlGuard({ allowHosts: [], allowPrivate: true, lookup: dns({ localhost: ['127.0.0.1'] }) });
    expect((await guard.check('http://localhost:9000/')).ok).toBe(true);
    expect((await guard.check('http://10.0.0.1/')).ok).toBe(true);
    expect((await guard.check('http://169.254.169.254/')).ok).toBe(false);
    expect((await guard.check('http://[fd00:ec2::254]/')).ok).toBe(false);
  });

  it('exempts exactly the WEBHOOK_ALLOW_HOSTS names (and *.suffix patterns)', async () => {
    const guard = new WebhookUrlGuard({
      allowHosts: ['LocalHost', '*.svc.test', '[::1]'],
      allowPrivate: false,
      lookup: dns({ localhost: ['127.0.0.1'], 'hooks.svc.test': ['10.0.0.9'], 'svc.test': ['10.0.0.9'], 'other.test': ['10.0.0.9'] }),
    });
    expect((await guard.check('http://localhost:1/')).ok).toBe(true);
    expect((await guard.check('http://localhost.:1/')).ok).toBe(true);
    expect((await guard.check('http://hooks.svc.test/')).ok).toBe(true);
    expect((await guard.check('http://[::1]:8080/')).ok).toBe(true);
    expect((await guard.check('http://svc.test/')).ok).toBe(false);
    expect((await guard.check('http://other.test/')).ok).toBe(false);
    expect((await guard.check('http://127.0.0.1/')).ok).toBe(false);
  });

  it('refuses at delivery time a host that resolved to a public address at request time (DNS rebinding)', async () => {
    const answers = [['93.184.215.14'], ['127.0.0.1']];
    const rebinding: LookupAll = async () => answers.shift()!.map((address) => ({ address, family: 4 as const }));
    const guard = new WebhookUrlGuard({ allowHosts: [], allowPrivate: false, lookup: rebinding });
    const atRequest = await guard.check('https://rebind.example.com/hook');
    expect(atRequest.ok).toBe(true);
    const atDelivery = await guard.check('https://rebind.example.com/hook');
    expect(atDelivery).toMatchObject({ ok: false, transient: false });
    expect(!atDelivery.ok && atDelivery.reason).toMatch(/rebind\.example\.com resolves to 127\.0\.0\.1/);
  });
});
