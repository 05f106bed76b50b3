/**
 * One webhook POST against a real loopback server: it connects to the validated address (no
 * second DNS lookup), never follows redirects, and gives up after its timeout.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { postWebhook } from '../../src/webhooks/http-delivery.js';
import type { WebhookTarget } from '../../src/webhooks/webhook-url-guard.js';

let server: http.Server;
let port: number;
const seen: { url: string; host: string; body: string; headers: http.IncomingHttpHeaders }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', host: req.headers.host ?? '', body, headers: req.headers });
      if (req.url === '/redirect') {
        res.writeHead(302, { location: '/elsewhere' }).end();
      } else if (req.url === '/slow') {
        // never answers
      } else if (req.url === '/busy') {
        res.writeHead(503, { 'retry-after': '7' }).end('busy');
      } else {
        res.writeHead(204).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const target = (url: string): WebhookTarget => {
  const u = new URL(url);
  return { url: u, hostname: u.hostname, addresses: [{ address: '127.0.0.1', family: 4 }] };
};

describe('postWebhook', () => {
  it('connects to the validated address, not to a fresh DNS answer for the name', async () => {
    // "rebind.invalid" resolves nowhere: the request only arrives because the pinned address is used.
    const r = await postWebhook(target(`http://rebind.invalid:${port}/hook`), '{"a":1}', { 'webhook-id': 'msg_1' }, 2000);
    expect(r).toEqual({ statusCode: 204, retryAfter: undefined, error: null });
    const last = seen[seen.length - 1]!;
    expect(last.host).toBe(`rebind.invalid:${port}`);
    expect(last.body).toBe('{"a":1}');
    expect(last.headers['content-type']).toBe('application/json');
    expect(last.headers['webhook-id']).toBe('msg_1');
  });

  it('does not follow redirects', async () => {
    const before = seen.length;
    const r = await postWebhook(target(`http://127.0.0.1:${port}/redirect`), '{}', {}, 2000);
    expect(r.statusCode).toBe(302);
    expect(r.error).toMatch(/redirects are not followed/);
    await new Promise((res) => setTimeout(res, 50));
    expect(seen.slice(before).map((s) => s.url)).toEqual(['/redirect']);
  });

  it('reports the status and Retry-After of a failure', async () => {
    const r = await postWebhook(target(`http://127.0.0.1:${port}/busy`), '{}', {}, 2000);
    expect(r).toEqual({ statusCode: 503, retryAfter: '7', error: 'HTTP 503' });
  });

  it('gives up on a receiver that does not answer within the timeout', async () => {
    const started = Date.now();
    const r = await postWebhook(target(`http://127.0.0.1:${port}/slow`), '{}', {}, 150);
    expect(r).toEqual({ statusCode: null, retryAfter: undefined, error: 'no complete response within 150 ms' });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('reports a refused connection', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await postWebhook(target(`http://127.0.0.1:${freePort}/`), '{}', {}, 2000);
    expect(r).toEqual({ statusCode: null, retryAfter: undefined, error: 'connection refused' });
  });
});
