/**
 * The S3 store against a real S3-compatible server (Swift with s3api, test/services/swift.sh):
 * the store contract on both backends, workers on "two machines" (separate data dirs, sharing
 * only Redis and the object store), an object-store outage mid-run, a 7B-sized adapter through
 * multipart upload, presigned downloads, the sweeper on S3.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { AdapterBlobs } from '../../src/blobs/adapter-blobs.js';
import { FsBlobs } from '../../src/blobs/fs-blobs.js';
import { S3Blobs } from '../../src/blobs/s3-blobs.js';
import { S3AdapterWriter } from '../../src/blobs/s3-adapter-writer.js';
import { AdapterFileWriter } from '../../src/blobs/adapter-file-writer.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { Sweeper } from '../../src/lifecycle/sweeper.js';
import { AdapterStore } from '../../src/store/adapter-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { ensureBucket, S3_TEST, s3Env, testS3Client } from '../helpers/s3-env.js';
import { call, REPO_ROOT, startTestService, testEnv, waitForJob, type TestService } from '../helpers/test-service.js';
import { until } from '../helpers/net.js';
import { MODEL, make } from '../helpers/lifecycle.js';
import { postScale, SCALE_ENV } from '../helpers/scale-service.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const s3Config = (prefix: string, endpoint = S3_TEST.endpoint) => {
  const c = loadConfig({ ...s3Env(prefix), S3_ENDPOINT: endpoint }).store;
  if (c.kind !== 's3') throw new Error('expected an S3 store');
  return c;
};
const read = async (s: NodeJS.ReadableStream) => {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};

describe.each(['fs', 's3'] as const)('the adapter store contract (%s)', (kind) => {
  const prefix = `contract-${randomBytes(4).toString('hex')}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'contract-'));
  const blobs: AdapterBlobs = kind === 's3' ? new S3Blobs(s3Config(prefix)) : new FsBlobs(dataDir);
  const writer = kind === 's3' ? new S3AdapterWriter(s3Config(prefix)) : new AdapterFileWriter({ dataDir });
  const id = `ad_${'c'.repeat(40)}`;
  // A large file in three views (as the generator's outputs are), and a small one.
  const big = [randomBytes(5 * 1024 * 1024), randomBytes(4 * 1024 * 1024 + 17), randomBytes(1000)];
  const bigBytes = big.reduce((n, p) => n + p.length, 0);
  const small = Buffer.from('{"r": 8}\n');

  it('stores files whole, and reads them back: sizes, digests, ranges', async () => {
    const [r] = await writer.writeBatch([{ tenant: 'alpha', adapterId: id, files: [{ name: 'adapter_model.safetensors', bytes: bigBytes, parts: big }, { name: 'adapter_config.json', bytes: small.length, parts: [small] }] }]);
    expect(r).toMatchObject({ ok: true });
    const files = (r as { files: { name: string; bytes: number; sha256: string }[] }).files;
    expect(files.find((f) => f.name === 'adapter_model.safetensors')).toEqual({ name: 'adapter_model.safetensors', bytes: bigBytes, sha256: sha(Buffer.concat(big)) });
    for (const f of files) expect(await blobs.verify('alpha', id, f)).toBe(true);
    expect(await blobs.verify('alpha', id, { ...files[0]!, sha256: '0'.repeat(64) })).toBe(false);
    expect(await blobs.size('alpha', id, 'adapter_model.safetensors')).toBe(bigBytes);
    expect(await blobs.size('alpha', id, 'missing.json')).toBeUndefined();
    expect((await read(await blobs.open('alpha', id, 'adapter_config.json'))).equals(small)).toBe(true);
    const range = await read(await blobs.open('alpha', id, 'adapter_model.safetensors', { start: 5 * 1024 * 1024 - 3, end: 5 * 1024 * 1024 + 2 }));
    expect(range.equals(Buffer.concat(big).subarray(5 * 1024 * 1024 - 3, 5 * 1024 * 1024 + 3))).toBe(true);
  }, 30000);

  it('lists tenants and adapters by prefix, and removes every file of an adapter', async () => {
    expect(await blobs.tenants()).toContain('alpha');
    const listed = await blobs.adapters('alpha');
    expect(listed.map((a) => a.id)).toEqual([id]);
    expect(listed[0]!.mtimeMs).toBeGreaterThan(Date.now() - 120_000);
    expect(await blobs.adapters('nobody')).toEqual([]);
    await blobs.remove('alpha', id);
    expect(await blobs.adapters('alpha')).toEqual([]);
    expect(await blobs.size('alpha', id, 'adapter_config.json')).toBeUndefined();
    await blobs.remove('alpha', id); // nothing left: a no-op
  });

  if (kind === 's3') {
    it('uploads large files in parts (never one whole-file buffer) and records their sha256 with them', async () => {
      const bigId = `ad_${'d'.repeat(40)}`;
      await writer.writeBatch([{ tenant: 'alpha', adapterId: bigId, files: [{ name: 'adapter_model.safetensors', bytes: bigBytes, parts: big }] }]);
      const c = s3Config(prefix);
      const head = await (blobs as S3Blobs).client.send(new HeadObjectCommand({ Bucket: c.bucket, Key: `${prefix}/alpha/${bigId}/adapter_model.safetensors` }));
      expect(head.ETag).toMatch(/-2"$/); // a multipart object of two 8 MiB-or-less parts
      expect(head.Metadata?.sha256).toBe(sha(Buffer.concat(big)));
      expect(blobs.location('alpha', bigId)).toBe(`s3://${c.bucket}/${prefix}/alpha/${bigId}/`);
    }, 30000);
  }
});

describe('workers on two machines, sharing only Redis and the object store', () => {
  it('completes every accepted job from either worker, and the API serves every file', async () => {
    // Swift on a 2-core machine throttles a burst of writes now and then (503 SlowDown): retries absorb it.
    // 30 jobs polled at once and then ~150 downloads are a burst for one tenant: no rate limit here
    // (tenancy.test.ts tests it), or a fast run gets 429s.
    const env = Object.fromEntries(Object.entries(testEnv({ ...s3Env(`two-${randomBytes(4).toString('hex')}`), JOB_ATTEMPTS: '10', JOB_BACKOFF_MS: '200', RATE_LIMIT_RPS: '0' })).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const svc = await startTestService({ env, worker: false });
    const dirs = [0, 1].map(() => mkdtempSync(path.join(os.tmpdir(), 'machine-')));
    const workers: ChildProcess[] = dirs.map((d) => spawn(process.execPath, [path.join(REPO_ROOT, 'dist/workers/generate/main.js')], { env: { PATH: process.env.PATH, ...env, DATA_DIR: d, BATCH_MAX_SIZE: '4' }, stdio: 'ignore' }));
    try {
      const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: `two machines ${i}` } })));
      const jobs = await Promise.all(replies.map((r) => waitForJob(svc.url, r.body.id, 60000)));
      expect(jobs.map((j) => j.status)).toEqual(Array(30).fill('succeeded'));
      for (const j of jobs) {
        const rec = (await call(svc.url, 'GET', `/v1/adapters/${j.adapter_id}`)).body;
        expect(rec.location).toBe(`s3://${S3_TEST.bucket}/${(svc.config.store as { prefix: string }).prefix}/local/${j.adapter_id}/`);
        for (const f of rec.files) {
          const res = await fetch(`${svc.url}${rec.urls.files[f.name]}`);
          expect(res.status).toBe(200);
          expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(f.sha256);
        }
      }
      // Nothing was written to either machine's own disk, nor to the API's.
      for (const d of [...dirs, svc.config.dataDir]) expect(existsSync(path.join(d, 'tenants')) ? readdirSync(path.join(d, 'tenants')) : []).toEqual([]);
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await svc.close();
    }
  }, 120000);
});

describe('an object store outage', () => {
  const port = 18090;
  const swift = (cmd: 'start' | 'stop' | 'pause' | 'resume') => spawnSync('bash', [path.join(REPO_ROOT, 'test/services/swift.sh'), cmd], { env: { ...process.env, SWIFT_DIR: '/tmp/hyperadapt-swift-outage', SWIFT_PORT: String(port) }, stdio: 'ignore' }).status;
  afterAll(() => {
    swift('stop');
  });

  it('gives retries and 503s, never a partial adapter, and recovers without a restart', async () => {
    expect(swift('start')).toBe(0);
    const endpoint = `http://127.0.0.1:${port}`;
    await ensureBucket(endpoint);
    const svc = await startTestService({ env: { ...s3Env(`outage-${randomBytes(4).toString('hex')}`), S3_ENDPOINT: endpoint, JOB_ATTEMPTS: '20', JOB_BACKOFF_MS: '100' } });
    try {
      const first = await make(svc, 'stored before the outage');
      // The S3 endpoint goes away (the storage behind it stays warm, so recovery time is the service's).
      expect(swift('pause')).toBe(0);
      const during = await Promise.all(Array.from({ length: 5 }, (_, i) => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: `during the outage ${i}` } })));
      expect(during.every((r) => r.status === 202)).toBe(true);
      const download = await call(svc.url, 'GET', `/v1/adapters/${first}/files/adapter_model.safetensors`);
      expect(download.status).toBe(503);
      expect(download.headers.get('retry-after')).toBe('2');
      expect(download.body.error.message).toMatch(/adapter store is unreachable/);
      await new Promise((r) => setTimeout(r, 1500));
      // Nothing written during the outage is visible.
      for (const r of during) expect((await call(svc.url, 'GET', `/v1/jobs/${r.body.id}`)).body.status).not.toBe('succeeded');
      expect(swift('resume')).toBe(0);
      await ensureBucket(endpoint);
      const jobs = await Promise.all(during.map((r) => waitForJob(svc.url, r.body.id, 120000)));
      expect(jobs.map((j) => j.status)).toEqual(Array(5).fill('succeeded'));
      for (const id of [first, ...jobs.map((j) => j.adapter_id)]) {
        const rec = (await call(svc.url, 'GET', `/v1/adapters/${id}`)).body;
        for (const f of rec.files) {
          const res = await fetch(`${svc.url}${rec.urls.files[f.name]}`);
          expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(f.sha256);
        }
      }
    } finally {
      await svc.close();
    }
  }, 240000);
});

describe('the S3 store in the service', () => {
  it('takes a 7B-sized adapter through a multipart upload, and redirects downloads to presigned URLs when asked', async () => {
    const svc = await startTestService({ env: { ...SCALE_ENV, ...s3Env(`big-${randomBytes(4).toString('hex')}`), DOWNLOAD_REDIRECT: 'presigned', GC_INTERVAL_SECONDS: '0' } });
    try {
      const r = await postScale(svc, 'a 7B-sized adapter in S3');
      expect(r.body.status).toBe('succeeded');
      const rec = (await call(svc.url, 'GET', `/v1/adapters/${r.body.adapter_id}`)).body;
      const weights = rec.files.find((f: { name: string }) => f.name === 'adapter_model.safetensors');
      expect(weights.bytes).toBeGreaterThan(40_000_000);
      const res = await fetch(`${svc.url}${rec.urls.files['adapter_model.safetensors']}`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const url = res.headers.get('location')!;
      expect(url).toMatch(/X-Amz-Signature=/);
      const body = Buffer.from(await (await fetch(url)).arrayBuffer());
      expect({ bytes: body.length, sha256: sha(body) }).toEqual({ bytes: weights.bytes, sha256: weights.sha256 });
    } finally {
      await svc.close();
    }
  }, 120000);

  it('sweeps S3: orphan prefixes only after the grace period, entries whose objects are gone', async () => {
    const svc = await startTestService({ env: { ...s3Env(`sweep-${randomBytes(4).toString('hex')}`), GC_INTERVAL_SECONDS: '0' } });
    try {
      const keys = new RedisKeys(svc.config.queuePrefix);
      const store = new AdapterStore({ redis: svc.redis, keys, dataDir: svc.config.dataDir, blobs: new S3Blobs(svc.config.store as never) });
      const kept = await make(svc, 'kept in S3');
      const lost = await make(svc, 'lost from S3');
      await store.blobs.remove('local', lost);
      const orphan = `ad_${'f'.repeat(40)}`;
      const c = svc.config.store as { bucket: string; prefix: string };
      const client = testS3Client();
      await client.send(new PutObjectCommand({ Bucket: c.bucket, Key: `${c.prefix}/local/${orphan}/adapter_config.json`, Body: '{}' }));
      client.destroy();
      const sweeper = (graceMs: number) => new Sweeper({ redis: svc.redis, keys, store, graceMs, batch: 100, jobRetentionSeconds: 60, log: createLogger('silent') });
      expect(await sweeper(3_600_000).runOnce()).toMatchObject({ orphanDirs: 0, lost: 1 });
      expect((await store.blobs.adapters('local')).map((a) => a.id)).toContain(orphan);
      expect((await call(svc.url, 'GET', `/v1/adapters/${lost}`)).body.error.code).toBe('gone');
      await until(async () => (await sweeper(0).runOnce())?.orphanDirs === 1, 5000, 'the orphan to be swept');
      expect((await store.blobs.adapters('local')).map((a) => a.id)).toEqual([kept]);
    } finally {
      await svc.close();
    }
  }, 60000);
});
