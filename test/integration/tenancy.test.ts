/** API keys, tenant isolation (a foreign id is a missing id), rate limits, edge headers, integrity. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApiKey } from '../../src/auth/api-keys.js';
import { call, REPO_ROOT, startTestService, type TestService } from '../helpers/test-service.js';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { testS3Client } from '../helpers/s3-env.js';

const MODEL = 'fixture-text-tiny';
const A = { authorization: 'Bearer key-of-tenant-a-0123456789' };
const B = { authorization: 'Bearer key-of-tenant-b-9876543210' };
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { API_KEYS: 'alpha:key-of-tenant-a-0123456789,beta:key-of-tenant-b-9876543210' } });
});
afterAll(async () => {
  await svc?.close();
});

describe('authentication', () => {
  it.each([
    ['no key', {}],
    ['an unknown key', { authorization: 'Bearer nope-nope-nope' }],
    ['a malformed header', { authorization: 'Basic abc' }],
  ])('answers 401 for %s', async (...row) => {
    const r = await call(svc.url, 'GET', '/v1/models', undefined, row[1]);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('unauthorized');
  });

  it('accepts a key created by `npm run keys -- create` through API_KEYS_FILE', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const file = path.join(dir, 'api-keys');
    const out = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/cli/keys.js'), 'create', '--tenant', 'gamma', '--file', file], { env: { PATH: process.env.PATH } });
      let s = '';
      child.stdout.on('data', (d) => (s += d));
      child.on('exit', () => resolve(s.trim()));
    });
    expect(out).toMatch(/^ha_[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(file, 'utf8')).not.toContain(out); // only the hash is stored
    const second = createApiKey(file, 'delta');
    const keyed = await startTestService({ env: { API_KEYS_FILE: file }, worker: false });
    try {
      expect((await call(keyed.url, 'GET', '/v1/models', undefined, { authorization: `Bearer ${out}` })).status).toBe(200);
      expect((await call(keyed.url, 'GET', '/v1/models', undefined, { authorization: `Bearer ${second}` })).status).toBe(200);
      expect((await call(keyed.url, 'GET', '/v1/models', undefined, { authorization: `Bearer ${out}x` })).status).toBe(401);
    } finally {
      await keyed.close();
    }
  });
});

describe('tenant isolation', () => {
  it("answers 404 for another tenant's ids on every endpoint, exactly as for a missing id", async () => {
    const job = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'tenant alpha only' }, webhook: undefined }, { ...A, prefer: 'wait=10' });
    expect(job.body.status).toBe('succeeded');
    const ad = job.body.adapter_id as string;
    const missingJob = 'job_' + 'f'.repeat(24);
    const missingAd = 'ad_' + 'f'.repeat(40);
    const endpoints: [string, (j: string, a: string) => string][] = [
      ['GET', (j) => `/v1/jobs/${j}`],
      ['POST', (j) => `/v1/jobs/${j}/cancel`],
      ['GET', (j) => `/v1/jobs/${j}/deliveries`],
      ['GET', (j) => `/v1/jobs/${j}/events`],
      ['GET', (_j, a) => `/v1/adapters/${a}`],
      ['GET', (_j, a) => `/v1/adapters/${a}/files/adapter_model.safetensors`],
      ['GET', (_j, a) => `/v1/adapters/${a}/files/adapter_config.json`],
      ['GET', (_j, a) => `/v1/adapters/${a}/archive`],
      ['DELETE', (_j, a) => `/v1/adapters/${a}`],
    ];
    for (const [method, url] of endpoints) {
      const foreign = await call(svc.url, method, url(job.body.id, ad), undefined, B);
      const missing = await call(svc.url, method, url(missingJob, missingAd), undefined, B);
      expect([method, url('J', 'A'), foreign.status]).toEqual([method, url('J', 'A'), 404]);
      const norm = (b: any) => JSON.stringify(b).replaceAll(job.body.id, 'ID').replaceAll(ad, 'ID').replaceAll(missingJob, 'ID').replaceAll(missingAd, 'ID');
      expect(norm(foreign.body)).toBe(norm(missing.body));
    }
    // The owner still has everything; the lists show each tenant only its own.
    expect((await call(svc.url, 'GET', `/v1/adapters/${ad}`, undefined, A)).status).toBe(200);
    expect((await call(svc.url, 'GET', '/v1/jobs?limit=100', undefined, B)).body.data.map((j: any) => j.id)).not.toContain(job.body.id);
    expect((await call(svc.url, 'GET', '/v1/adapters?limit=100', undefined, B)).body.data.map((x: any) => x.id)).not.toContain(ad);
  });

  it('keeps a content-addressed cache per tenant, and a webhook secret per tenant', async () => {
    const body = { model: MODEL, input: { context: 'the same document for two tenants' } };
    const a = await call(svc.url, 'POST', '/v1/adapters', body, { ...A, prefer: 'wait=10' });
    const b = await call(svc.url, 'POST', '/v1/adapters', body, { ...B, prefer: 'wait=10' });
    expect(b.body.cached).toBe(false);
    expect(b.body.adapter_id).not.toBe(a.body.adapter_id);
    const sa = (await call(svc.url, 'GET', '/v1/webhook-secret', undefined, A)).body.secret;
    const sb = (await call(svc.url, 'GET', '/v1/webhook-secret', undefined, B)).body.secret;
    expect(sa).not.toBe(sb);
    const keys = await svc.redis.keys(`${svc.config.queuePrefix}:t:*`);
    expect(keys.every((k) => /:t:(alpha|beta):/.test(k))).toBe(true);
  });
});

describe('limits and edge headers', () => {
  it('rate-limits per key with 429 and Retry-After, without touching other keys', async () => {
    const limited = await startTestService({ env: { API_KEYS: 'alpha:key-of-tenant-a-0123456789,beta:key-of-tenant-b-9876543210', RATE_LIMIT_RPS: '5' }, worker: false });
    try {
      const replies = await Promise.all(Array.from({ length: 20 }, () => call(limited.url, 'GET', '/v1/models', undefined, A)));
      const tooMany = replies.filter((r) => r.status === 429);
      expect(tooMany.length).toBeGreaterThanOrEqual(10);
      expect(tooMany[0]!.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(tooMany[0]!.body.error.code).toBe('rate_limited');
      expect((await call(limited.url, 'GET', '/v1/models', undefined, B)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('caps the jobs a tenant may have queued or running (429 with Retry-After) and frees a place when one ends', async () => {
    const capped = await startTestService({ env: { MAX_ACTIVE_JOBS: '2' }, worker: false });
    try {
      const post = (t: string) => call(capped.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: t } });
      const one = await post('one');
      expect(one.status).toBe(202);
      expect((await post('two')).status).toBe(202);
      const third = await post('three');
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('5');
      expect(third.body.error.message).toMatch(/2 jobs queued or running/);
      await call(capped.url, 'POST', `/v1/jobs/${one.body.id}/cancel`);
      expect((await post('three')).status).toBe(202);
    } finally {
      await capped.close();
    }
  });

  it('sends helmet headers, no CORS unless configured, and CORS for a configured origin', async () => {
    const plain = await fetch(`${svc.url}/healthz`, { headers: { origin: 'https://evil.example' } });
    expect(plain.headers.get('x-content-type-options')).toBe('nosniff');
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    const withCors = await startTestService({ env: { CORS_ORIGINS: 'https://app.example' }, worker: false });
    try {
      const ok = await fetch(`${withCors.url}/v1/models`, { headers: { origin: 'https://app.example' } });
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
      const other = await fetch(`${withCors.url}/v1/models`, { headers: { origin: 'https://evil.example' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await withCors.close();
    }
  });
});

describe('integrity', () => {
  it('never serves a file that differs from its record: the adapter is removed and regenerated on request', async () => {
    const body = { model: MODEL, input: { context: 'integrity check' } };
    const made = await call(svc.url, 'POST', '/v1/adapters', body, { ...A, prefer: 'wait=10' });
    const ad = made.body.adapter_id;
    if (svc.config.store.kind === 's3') {
      // Another writer replaced the object (same size, other bytes, no digest of ours).
      const key = `${svc.config.store.prefix}/alpha/${ad}/adapter_model.safetensors`;
      const client = testS3Client();
      const old = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: svc.config.store.bucket, Key: key }))).Body!.transformToByteArray());
      old.writeUInt8(old[old.length - 1]! ^ 0xff, old.length - 1);
      await client.send(new PutObjectCommand({ Bucket: svc.config.store.bucket, Key: key, Body: old }));
      client.destroy();
    } else {
      const file = path.join(svc.config.dataDir, 'tenants', 'alpha', 'adapters', ad, 'adapter_model.safetensors');
      const bytes = readFileSync(file);
      bytes.writeUInt8(bytes[bytes.length - 1]! ^ 0xff, bytes.length - 1); // flip bits in the data, same size
      writeFileSync(file, bytes);
    }
    const r = await call(svc.url, 'GET', `/v1/adapters/${ad}/files/adapter_model.safetensors`, undefined, A);
    expect(r.status).toBe(503);
    expect(r.body.error.message).toMatch(/integrity check/);
    const gone = await call(svc.url, 'GET', `/v1/adapters/${ad}`, undefined, A);
    expect(gone.status).toBe(410);
    expect(gone.body.error).toMatchObject({ code: 'gone', message: expect.stringMatching(/integrity check.*same request regenerates it/) });
    const again = await call(svc.url, 'POST', '/v1/adapters', body, { ...A, prefer: 'wait=10' });
    expect(again.body).toMatchObject({ status: 'succeeded', cached: false, adapter_id: ad });
    expect((await fetch(`${svc.url}/v1/adapters/${ad}/files/adapter_model.safetensors`, { headers: A })).status).toBe(200);
  });
});
