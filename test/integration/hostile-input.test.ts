/**
 * The hostile-input suite: well over a thousand generated requests across every endpoint —
 * wrong types, huge and deeply nested JSON, prototype keys, invalid UTF-8, lone surrogates, NUL
 * bytes, over-long ids and headers, wrong content types, bogus Prefer and Idempotency-Key values,
 * percent-encoded traversal, random garbage. Each must answer one of its documented 4xx with the
 * error body, never a 5xx; the server must be healthy and useful afterwards.
 */
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';

const MODEL = 'fixture-text-tiny';
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { MAX_BODY_BYTES: '262144', RATE_LIMIT_RPS: '0' } });
});
afterAll(async () => {
  await svc?.close();
});

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  allowed: number[];
}

const BODY_4XX = [400, 404, 413, 415, 422];
const cases: Case[] = [];
const json = (name: string, path: string, body: string | Buffer, allowed = BODY_4XX, headers: Record<string, string> = {}) =>
  cases.push({ name, method: 'POST', path, body, headers: { 'content-type': 'application/json', ...headers }, allowed });

// 1. Wrong types and out-of-range values at every field of both JSON bodies.
const badValues: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, '', ' ', 'x'.repeat(300), [], {}, [1, 2], { a: 1 }, ['x'], { context: 5 }];
const valid = { model: MODEL, input: { context: 'a valid document' }, options: { dtype: 'float16' }, metadata: { k: 'v' }, webhook: { url: 'https://example.com/hook' } };
const setPath = (obj: any, path: string[], value: unknown) => {
  const copy = JSON.parse(JSON.stringify(obj));
  let cur = copy;
  for (const p of path.slice(0, -1)) cur = cur[p] ??= {};
  cur[path.at(-1)!] = value;
  return copy;
};
const paths = [['model'], ['input'], ['input', 'context'], ['input', 'question'], ['options'], ['options', 'dtype'], ['options', 'format'], ['metadata'], ['metadata', 'k'], ['webhook'], ['webhook', 'url'], ['webhook', 'events'], ['extra']];
for (const p of paths) for (const v of badValues) json(`adapters ${p.join('.')}=${JSON.stringify(v)?.slice(0, 20)}`, '/v1/adapters', JSON.stringify(setPath(valid, p, v)));
const validImages = { model: 'fixture-image-tiny', images: [{ data: 'iVBORw0KGgo=' }], options: { format: 'kohya' } };
for (const p of [['model'], ['images'], ['images', '0'], ['options'], ['options', 'format'], ['metadata'], ['webhook'], ['extra']]) {
  for (const v of badValues) json(`personalizations ${p.join('.')}=${JSON.stringify(v)?.slice(0, 20)}`, '/v1/personalizations', JSON.stringify(setPath(validImages, p, v)));
}

// 2. Prototype-pollution keys, anywhere.
for (const key of ['__proto__', 'constructor', 'prototype']) {
  for (const [where, tpl] of [
    ['top', `{"model":"${MODEL}","input":{"context":"x"},"${key}":{"polluted":true}}`],
    ['input', `{"model":"${MODEL}","input":{"context":"x","${key}":"y"}}`],
    ['metadata', `{"model":"${MODEL}","input":{"context":"x"},"metadata":{"${key}":"y"}}`],
    ['options', `{"model":"${MODEL}","input":{"context":"x"},"options":{"${key}":{"dtype":"float16"}}}`],
  ]) {
    json(`${key} in ${where}`, '/v1/adapters', tpl!, [400]);
    json(`${key} in ${where} (personalizations)`, '/v1/personalizations', tpl!.replace(`"input":{"context":"x"}`, '"images":[{"data":"AAAA"}]'), [400]);
  }
}

// 3. Bytes that are not UTF-8, lone surrogates, NUL.
const notUtf8 = [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3], [0xe2, 0x82], [0x80], [0xf4, 0x90, 0x80, 0x80]];
for (const bytes of notUtf8) {
  for (const path of ['/v1/adapters', '/v1/personalizations']) {
    json(`invalid UTF-8 ${bytes.map((b) => b.toString(16)).join(' ')} → ${path}`, path, Buffer.concat([Buffer.from(`{"model":"${MODEL}","input":{"context":"a`), Buffer.from(bytes), Buffer.from('"}}')]), [400]);
  }
}
for (const esc of ['\\ud800', '\\udc00', '\\udbff\\u0041', '\\u0000', 'a\\u0000b']) {
  for (const field of ['model', 'context', 'metadata']) {
    const body = field === 'model' ? `{"model":"${esc}","input":{"context":"x"}}` : field === 'context' ? `{"model":"${MODEL}","input":{"context":"${esc}"}}` : `{"model":"${MODEL}","input":{"context":"x"},"metadata":{"k":"${esc}"}}`;
    json(`${esc} in ${field}`, '/v1/adapters', body, [400]);
  }
}

// 4. Huge and deeply nested JSON.
json('2 MB body', '/v1/adapters', JSON.stringify({ model: MODEL, input: { context: 'x'.repeat(2 * 1024 * 1024) } }), [413]);
json('a 300 kB metadata value', '/v1/adapters', JSON.stringify({ model: MODEL, input: { context: 'x' }, metadata: { k: 'v'.repeat(300000) } }), [413]);
for (const depth of [40, 1000, 50000]) {
  json(`nested ${depth} deep`, '/v1/adapters', `{"model":"${MODEL}","input":{"context":"x"},"metadata":${'['.repeat(depth)}${']'.repeat(depth)}}`, [400, 413]);
  json(`nested objects ${depth} deep`, '/v1/adapters', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, [400, 413]);
}
for (const text of ['', '{', '}', 'null', '[]', '""', '1', 'true', '{"model":}', '{"model": "x",}', "{'model': 'x'}", 'NaN', '\u0000', '{"a":1}{"b":2}']) {
  json(`malformed JSON ${JSON.stringify(text)}`, '/v1/adapters', text, [400]);
  json(`malformed JSON ${JSON.stringify(text)} (personalizations)`, '/v1/personalizations', text, [400, 415]);
}

// 5. Wrong and missing content types.
for (const type of ['', 'text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'application/jsonx', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'image/png', 'multipart/form-data']) {
  cases.push({ name: `adapters with content-type "${type}"`, method: 'POST', path: '/v1/adapters', headers: type ? { 'content-type': type } : {}, body: JSON.stringify(valid), allowed: [400, 415] });
  cases.push({ name: `personalizations with content-type "${type}"`, method: 'POST', path: '/v1/personalizations', headers: type ? { 'content-type': type } : {}, body: 'garbage', allowed: [400, 415] });
}

// 6. Bogus Prefer and Idempotency-Key values.
for (const prefer of ['wait=0', 'wait=-1', 'wait=61', 'wait=abc', 'wait=1e3', 'wait=', 'wait=99999999999', 'wait=1.5', 'respond-async, wait=0', `wait=${'9'.repeat(2000)}`, 'x'.repeat(2000)]) {
  json(`Prefer: ${prefer.slice(0, 30)}`, '/v1/adapters', JSON.stringify(valid), [400], { prefer });
}
for (const key of ['', ' ', '   ', 'k'.repeat(256), 'k'.repeat(4000), 'clé-é', '\t', 'a\u0080b']) {
  json(`Idempotency-Key ${JSON.stringify(key.slice(0, 20))}`, '/v1/adapters', JSON.stringify(valid), [400, 431], { 'idempotency-key': key });
}

// 7. Over-long, malformed and traversing ids on every id-taking endpoint.
const ids = [
  'job_' + 'a'.repeat(5000), 'ad_' + 'f'.repeat(5000), 'x', '0', '-1', 'null', 'undefined', "' OR 1=1 --", '"; DROP TABLE jobs;', '<script>', '..', '...',
  '%2e%2e', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%2f..%2f..%2fetc%2fpasswd', '%252e%252e%252f', '%c0%ae%c0%ae%c0%af', '..%5c..%5cwindows', '%00', 'job_%00',
  'job_000000000000000000000000%00', '%E0%A4%A', '%', '%zz', 'ad_' + '0'.repeat(40) + '%2f..', '%F0%9F%92%A9', 'job_%C3%A9', '*', '%20', 'ad_ABCDEF',
];
const idRoutes: [string, (id: string) => string][] = [
  ['GET', (id) => `/v1/jobs/${id}`], ['POST', (id) => `/v1/jobs/${id}/cancel`], ['GET', (id) => `/v1/jobs/${id}/deliveries`], ['GET', (id) => `/v1/jobs/${id}/events`],
  ['GET', (id) => `/v1/adapters/${id}`], ['DELETE', (id) => `/v1/adapters/${id}`], ['GET', (id) => `/v1/adapters/${id}/archive`],
  ['GET', (id) => `/v1/adapters/${id}/files/adapter_model.safetensors`], ['GET', (id) => `/v1/adapters/ad_${'0'.repeat(40)}/files/${id}`], ['GET', (id) => `/v1/models/${id}`],
];
for (const [method, route] of idRoutes) for (const id of ids) cases.push({ name: `${method} ${route(id).slice(0, 60)}`, method, path: route(id), allowed: [400, 404] });

// 8. Query strings of both lists.
for (const list of ['/v1/jobs', '/v1/adapters']) {
  for (const q of ['limit=0', 'limit=-1', 'limit=101', 'limit=abc', 'limit=1e2', 'limit=', 'limit=1&limit=2', 'limit[]=1', 'cursor=%%%', 'cursor=' + 'A'.repeat(300), 'cursor=bm9wZQ', 'cursor=MTpqb2Jf', 'status=done', 'status=', 'status[]=queued', 'model[]=x', 'bogus=1', 'limit=1%00', '__proto__=1', 'cursor=%E0%A4%A']) {
    cases.push({ name: `GET ${list}?${q.slice(0, 40)}`, method: 'GET', path: `${list}?${q}`, allowed: [400] });
  }
}

// 9. Over-long headers (Node refuses them before the app: 431).
cases.push({ name: '20 kB header', method: 'GET', path: '/v1/models', headers: { 'x-junk': 'j'.repeat(20000) }, allowed: [431] });
cases.push({ name: '20 kB URL', method: 'GET', path: `/v1/jobs/${'a'.repeat(20000)}`, allowed: [404, 414, 431] });

// 10. Methods no endpoint has.
for (const [method, path] of [['PUT', '/v1/adapters'], ['PATCH', '/v1/jobs/job_000000000000000000000000'], ['DELETE', '/v1/models'], ['PUT', '/v1/webhook-secret'], ['POST', '/v1/models'], ['GET', '/v1/personalizations'], ['DELETE', '/v1/jobs'], ['POST', '/v1/adapters/ad_x/files/y']] as const) {
  cases.push({ name: `${method} ${path}`, method, path, allowed: [404] });
}

// 11. Seeded random garbage: JSON values of random shapes, and random bytes.
let seed = 42;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
const pick = <T,>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
const junk = (depth: number): unknown => {
  const r = rand();
  if (depth > 3 || r < 0.3) return pick<unknown>([null, 1, -0, 3.14, true, '', 'x', '\u00e9', 'model', MODEL, 'context', '\uD83D\uDE00']);
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => junk(depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, () => [pick(['model', 'input', 'context', 'options', 'metadata', 'webhook', 'images', 'data', 'x', 'dtype']), junk(depth + 1)]));
};
for (let i = 0; i < 300; i++) json(`random JSON #${i}`, pick(['/v1/adapters', '/v1/personalizations']), JSON.stringify(junk(0)), BODY_4XX);
for (let i = 0; i < 60; i++) json(`random bytes #${i}`, pick(['/v1/adapters', '/v1/personalizations']), Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256))), [400, 415]);

describe('hostile input', () => {
  it(`has at least 1000 generated hostile requests (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(1000);
  });

  it('answers every one with a documented 4xx and the error body, never a 5xx', async () => {
    const failures: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 12 }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        let status = 0;
        let text = '';
        try {
          const res = await fetch(svc.url + c.path, { method: c.method, headers: c.headers, body: c.body as BodyInit | undefined });
          status = res.status;
          text = await res.text();
        } catch (err) {
          failures.push(`${c.name}: request failed (${(err as Error).message})`);
          continue;
        }
        if (!c.allowed.includes(status)) failures.push(`${c.name}: ${status} not in [${c.allowed}] ${text.slice(0, 160)}`);
        else if (status !== 431 && status !== 414) {
          let body: any;
          try {
            body = JSON.parse(text);
          } catch {
            failures.push(`${c.name}: ${status} without a JSON error body`);
            continue;
          }
          if (typeof body?.error?.code !== 'string' || typeof body?.error?.message !== 'string') failures.push(`${c.name}: no error body`);
          if (/\n\s+at /.test(text)) failures.push(`${c.name}: stack trace in the body`);
        }
      }
    }));
    expect(failures).toEqual([]);
  });

  it('is healthy and useful afterwards', async () => {
    expect((await call(svc.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(svc.url, 'GET', '/readyz')).status).toBe(200);
    const r = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'after the storm' } });
    expect((await waitForJob(svc.url, r.body.id)).status).toBe('succeeded');
    // Nothing polluted Object.prototype in this process.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
