/**
 * The fault suite: Redis stopped and restarted under load, a worker SIGKILLed mid-batch (and in
 * the middle of writing 7B-sized files: group commit must never index a partial adapter), an
 * unwritable data dir. Each ends with a count: jobs accepted must equal jobs completed. And
 * what a killed write leaves behind is collected by the sweeper, after its grace period only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, sleep, until } from '../helpers/net.js';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { call, REPO_ROOT, startTestService, testEnv, waitForJob, type TestService } from '../helpers/test-service.js';
import { Sweeper } from '../../src/lifecycle/sweeper.js';
import { AdapterStore } from '../../src/store/adapter-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { createLogger } from '../../src/logging/logger.js';
import { cleanScaleEnv, indexedAdaptersAreWhole, indexRecords, postScale, spawnWorker } from '../helpers/scale-service.js';

const MODEL = 'fixture-text-tiny';



/** Posts distinct contexts; returns the ids of the jobs the server accepted (200/202). */
async function load(svc: { url: string }, tag: string, n: number, concurrency: number, accepted: string[], refused: number[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      const r = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: `${tag} document ${i}` } }).catch(() => ({ status: 0, body: undefined, headers: new Headers() }));
      if (r.status === 200 || r.status === 202) accepted.push(r.body.id);
      else refused.push(r.status);
    }
  }));
}

async function allSucceeded(url: string, ids: string[]): Promise<number> {
  let done = 0;
  for (const id of ids) if ((await waitForJob(url, id, 60000)).status === 'succeeded') done++;
  return done;
}

describe('Redis stopped and restarted under load', () => {
  let redis: ChildProcess | undefined;
  let svc: TestService | undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'redis-fault-'));
  afterAll(async () => {
    await svc?.close().catch(() => undefined);
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 fast while Redis is down, recovers by itself, and completes every accepted job', async () => {
    const port = await freePort();
    const start = () => spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
    redis = start();
    const url = `redis://127.0.0.1:${port}`;
    await until(async () => {
      const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      const ok = await probe.connect().then(() => true, () => false);
      probe.disconnect();
      return ok;
    }, 10000, 'redis-server');
    svc = await startTestService({ env: { REDIS_URL: url, WORKER_LOCK_MS: '2000', STALLED_INTERVAL_MS: '1000', JOB_BACKOFF_MS: '100', JOB_ATTEMPTS: '5' } });
    const accepted: string[] = [];
    const refused: number[] = [];
    await load(svc, 'before', 30, 4, accepted, refused);

    // Redis goes away while a stream of requests arrives.
    const during = load(svc, 'during', 40, 4, accepted, refused);
    await sleep(50);
    redis.kill('SIGTERM'); // a clean shutdown: the AOF holds everything acknowledged
    await until(() => redis!.exitCode !== null || redis!.signalCode !== null, 10000, 'redis to stop');
    const t0 = Date.now();
    const down = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'while redis is down' } });
    expect(Date.now() - t0).toBeLessThan(5000); // fails fast instead of hanging (the 1 s figure is in the benchmark notes)
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(down.body.error.code).toBe('unavailable');
    expect((await call(svc.url, 'GET', '/readyz')).status).toBe(503);
    expect((await call(svc.url, 'GET', '/healthz')).status).toBe(200);
    await during;

    redis = start();
    await until(async () => (await call(svc!.url, 'GET', '/readyz')).status === 200, 20000, 'readiness after Redis returns');
    await load(svc, 'after', 30, 4, accepted, refused);
    expect(refused.every((s) => s === 503)).toBe(true);
    const completed = await allSucceeded(svc.url, accepted);
    expect({ accepted: accepted.length, completed }).toEqual({ accepted: accepted.length, completed: accepted.length });
    expect(accepted.length).toBeGreaterThanOrEqual(60);
  });
});

describe('a worker SIGKILLed mid-batch', () => {
  it('recovers its jobs through stalled-job detection; each adapter is stored once', async () => {
    // A small scheduler depth: most computations wait in the fair queue and reach BullMQ through
    // the worker processes' dispatchers, the killed one's included.
    const env = testEnv({ WORKER_LOCK_MS: '1500', STALLED_INTERVAL_MS: '500', BATCH_MAX_SIZE: '8', SCHEDULER_DEPTH: '16' });
    const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const svc = await startTestService({ env: clean, worker: false });
    const workers: ChildProcess[] = [];
    const spawnWorker = () => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/workers/generate/main.js')], { env: { PATH: process.env.PATH, ...clean }, stdio: 'ignore' });
      workers.push(child);
      return child;
    };
    try {
      const first = spawnWorker();
      const accepted: string[] = [];
      const refused: number[] = [];
      await load(svc, 'sigkill', 150, 8, accepted, refused);
      expect(refused).toEqual([]);
      const succeeded = async () => (await call(svc.url, 'GET', '/v1/jobs?status=succeeded&limit=100')).body.data.length as number;
      await until(async () => (await succeeded()) >= 5, 30000, 'the first adapters');
      first.kill('SIGKILL');
      spawnWorker();
      const completed = await allSucceeded(svc.url, accepted);
      expect({ accepted: accepted.length, completed }).toEqual({ accepted: 150, completed: 150 });
      const adapters = await svc.redis.zcard(`${svc.config.queuePrefix}:t:local:adapters`);
      expect(adapters).toBe(150); // exactly once in the store
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await svc.close();
    }
  });
});

describe('an unwritable data dir', () => {
  it('fails attempts with a clear error, retries, and completes once the disk is back', async () => {
    const svc = await startTestService({ env: { JOB_ATTEMPTS: '6', JOB_BACKOFF_MS: '150' } });
    try {
      mkdirSync(svc.config.dataDir, { recursive: true });
      const blocker = path.join(svc.config.dataDir, 'tenants');
      writeFileSync(blocker, 'the disk is "full"');
      const accepted: string[] = [];
      await load(svc, 'disk', 10, 5, accepted, []);
      await sleep(600);
      const mid = await call(svc.url, 'GET', `/v1/jobs/${accepted[0]}`);
      expect(mid.body.status).not.toBe('succeeded');
      expect((await call(svc.url, 'GET', '/v1/adapters')).body.data).toEqual([]); // nothing half-written is visible
      rmSync(blocker);
      const completed = await allSucceeded(svc.url, accepted);
      expect({ accepted: accepted.length, completed }).toEqual({ accepted: 10, completed: 10 });
    } finally {
      await svc.close();
    }
  });
});

describe('a worker SIGKILLed while writing 7B-sized adapters', () => {
  it('leaves nothing indexed that is not whole; a new worker completes every accepted job', async () => {
    const clean = cleanScaleEnv({ WORKER_LOCK_MS: '1500', STALLED_INTERVAL_MS: '500', JOB_BACKOFF_MS: '50' });
    const svc = await startTestService({ env: clean, worker: false });
    const workers = [spawnWorker(svc, clean)];
    try {
      const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => postScale(svc, `crash document ${i}`, 'float16', 'wait=1')));
      expect(replies.every((r) => r.status === 202 || r.status === 200)).toBe(true);
      // Kill the moment a file is being written (a hidden temp file exists), after the first
      // adapters may have been indexed.
      const adaptersDir = path.join(svc.config.dataDir, 'tenants', 'local', 'adapters');
      const writing = () => existsSync(adaptersDir) && readdirSync(adaptersDir).some((d) => readdirSync(path.join(adaptersDir, d)).some((f) => f.endsWith('.tmp')));
      await until(async () => (await indexRecords(svc)).length >= 1 && writing(), 60000, 'a write in progress after the first adapter');
      workers[0]!.kill('SIGKILL');
      await sleep(100);
      const before = await indexRecords(svc);
      expect(before.length).toBeLessThan(6);
      indexedAdaptersAreWhole(svc, before);
      workers.push(spawnWorker(svc, clean));
      const jobs = await Promise.all(replies.map((r) => waitForJob(svc.url, r.body.id, 120000)));
      expect(jobs.map((j) => j.status)).toEqual(Array(6).fill('succeeded'));
      const after = await indexRecords(svc);
      expect(after).toHaveLength(6);
      indexedAdaptersAreWhole(svc, after);
      for (const rec of after) expect((await fetch(`${svc.url}/v1/adapters/${rec.id}/files/adapter_config.json`)).status).toBe(200);
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await svc.close();
    }
  }, 180000);
});

describe('leftovers of a worker SIGKILLed mid-write', () => {
  it('are collected by the sweeper after the grace period and never before; indexed adapters stay whole', async () => {
    const clean = cleanScaleEnv({ WORKER_LOCK_MS: '1500', STALLED_INTERVAL_MS: '500', JOB_BACKOFF_MS: '50', GC_INTERVAL_SECONDS: '0' });
    const svc = await startTestService({ env: clean, worker: false });
    const workers = [spawnWorker(svc, clean)];
    try {
      const replies = await Promise.all(Array.from({ length: 4 }, (_, i) => postScale(svc, `orphan document ${i}`, 'float16', 'wait=1')));
      const adaptersDir = path.join(svc.config.dataDir, 'tenants', 'local', 'adapters');
      const temps = () => (existsSync(adaptersDir) ? readdirSync(adaptersDir).flatMap((d) => readdirSync(path.join(adaptersDir, d)).filter((f) => f.endsWith('.tmp'))) : []);
      // Freeze the worker, then look: a write seen in progress could otherwise finish (rename its
      // temp file away) between the look and the kill.
      await until(async () => {
        if (temps().length === 0) return false;
        workers[0]!.kill('SIGSTOP');
        if (temps().length > 0) return true;
        workers[0]!.kill('SIGCONT');
        return false;
      }, 60000, 'a write in progress');
      workers[0]!.kill('SIGKILL');
      // Nobody wants these adapters any more: their computations end without writing.
      for (const r of replies) await call(svc.url, 'POST', `/v1/jobs/${r.body.id}/cancel`);
      workers.push(spawnWorker(svc, clean));
      await until(async () => (await svc.redis.keys(`${svc.config.queuePrefix}:t:local:comp:*`)).length === 0, 60000, 'the stalled computations to end');
      const indexed = (await indexRecords(svc)).map((r) => r.id);
      const orphans = readdirSync(adaptersDir).filter((d) => !indexed.includes(d));
      expect(orphans.length).toBeGreaterThanOrEqual(1);
      expect(temps().length).toBeGreaterThanOrEqual(1);

      const keys = new RedisKeys(svc.config.queuePrefix);
      const store = new AdapterStore({ redis: svc.redis, keys, dataDir: svc.config.dataDir });
      const sweeper = (graceMs: number) => new Sweeper({ redis: svc.redis, keys, store, graceMs, batch: 100, jobRetentionSeconds: 3600, log: createLogger('silent') });
      expect(await sweeper(3_600_000).runOnce()).toMatchObject({ orphanDirs: 0, tempFiles: 0 });
      for (const d of orphans) expect(existsSync(path.join(adaptersDir, d))).toBe(true);
      await sleep(50);
      const swept = await sweeper(10).runOnce();
      expect(swept?.orphanDirs).toBe(orphans.length);
      expect(readdirSync(adaptersDir).sort()).toEqual([...indexed].sort());
      expect(temps()).toEqual([]);
      indexedAdaptersAreWhole(svc, await indexRecords(svc));
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await svc.close();
    }
  }, 180000);
});
