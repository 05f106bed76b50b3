/**
 * The SSRF guard end to end: private, loopback, metadata and disguised addresses are refused at
 * request time (400), and the webhook worker checks again right before delivering, so a name
 * that was acceptable at request time but resolves to loopback at delivery time gets nothing.
 */
import { jobClient } from '../helpers/job-client.js';
import { sleep } from '../helpers/net.js';
import { call, startTestService, type TestService } from '../helpers/test-service.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

const receivers: WebhookReceiver[] = [];
afterAll(async () => {
  for (const r of receivers) await r.close();
});

describe('SSRF guard', () => {
  let strict: TestService;
  let rebinding: TestService;
  const s = jobClient(() => strict);
  const rb = jobClient(() => rebinding);

  beforeAll(async () => {
    strict = await startTestService({ worker: false });
    // The API trusts "localhost" by name; its webhook worker does not (no exceptions at all).
    rebinding = await startTestService({ worker: false, env: { WEBHOOK_ALLOW_HOSTS: 'localhost' } });
    await rebinding.startWebhooks({ config: { webhookAllowHosts: [], webhookAllowPrivate: false } });
  });
  afterAll(async () => {
    await strict?.close();
    await rebinding?.close();
  });

  it.each([
    'http://127.0.0.1/hook',
    'http://localhost:8080/hook',
    'http://[::1]/hook',
    'http://10.0.0.8/',
    'http://172.16.5.4/',
    'http://192.168.0.1/',
    'http://100.64.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00:ec2::254]/',
    'http://[fe80::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://0x7f000001/',
    'http://017700000001/',
    'http://0/',
    'http://224.0.0.1/',
    'http://user:pw@93.184.215.14/',
    'ftp://93.184.215.14/',
  ])('refuses %s at request time with 400 naming webhook.url', async (url) => {
    const r = await s.post('ssrf attempt', { url });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.details[0].path).toEqual(['webhook', 'url']);
  });

  it('accepts a public address', async () => {
    const r = await s.post('a public receiver', { url: 'https://93.184.215.14/hook' });
    expect(r.status).toBe(202);
  });

  it('re-checks at delivery time: a host allowed by name at request time but resolving to loopback is refused', async () => {
    const rx = await new WebhookReceiver().start();
    receivers.push(rx);
    rx.secrets = [(await call(rebinding.url, 'GET', '/v1/webhook-secret')).body.secret];
    const port = new URL(rx.url).port;
    const r = await rb.post('rebinding', { url: `http://localhost:${port}/rebind` });
    expect(r.status).toBe(202);
    await rb.cancel(r.body.id);
    const entries = await rb.logOf(r.body.id, 1);
    expect(entries[0]).toMatchObject({ attempt: 1, status_code: null, next_attempt_at: null });
    expect(entries[0].error).toMatch(/^refused: .*localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/);
    await sleep(100);
    expect(rx.received).toHaveLength(0);
  });
});
