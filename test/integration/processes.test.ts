/**
 * The service as users run it: `npm start` (API + worker in one process), and `start:api` +
 * `start:worker` as separate processes on one Redis; start-up refusals; graceful SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../helpers/net.js';
import path from 'node:path';
import { Redis } from 'ioredis';
import { call, REPO_ROOT, testEnv, waitForJob } from '../helpers/test-service.js';

const START = path.join(REPO_ROOT, 'dist/src/main/start.js');
const WORKER = path.join(REPO_ROOT, 'dist/workers/generate/main.js');


interface Proc {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function run(script: string, args: string[], env: Record<string, string | undefined>): Proc {
  const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

async function ready(base: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${base} not ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function cleanup(prefix: string): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
}

describe('processes', () => {
  it('npm start serves a round trip, then SIGTERM shuts it down and exits 0', async () => {
    const port = await freePort();
    const env = testEnv({ PORT: String(port), LOG_LEVEL: 'info' });
    const proc = run(START, [], env);
    const base = `http://127.0.0.1:${port}`;
    try {
      await ready(base);
      const r = await call(base, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'one process' } }, { prefer: 'wait=10' });
      expect(r.status).toBe(200);
      expect(r.body.status).toBe('succeeded');
      // A job accepted just before SIGTERM is finished by the draining worker, or stays queued
      // for the next one: never lost, never stuck "running".
      const late = await call(base, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'accepted before shutdown' } });
      expect(late.status).toBe(202);
      proc.child.kill('SIGTERM');
      expect(await proc.exit).toBe(0);
      expect(proc.output()).toMatch(/shutdown complete/);
      // One job can be followed through the JSON logs: the request line, then the worker's.
      const lines = proc.output().split('\n').filter((l) => l.includes(r.body.id)).map((l) => JSON.parse(l));
      expect(lines.some((l) => l.requestId && l.jobId === r.body.id && l.req?.url === '/v1/adapters')).toBe(true);
      expect(lines.some((l) => Array.isArray(l.jobs) && l.jobs.includes(r.body.id) && l.adapterId === r.body.adapter_id)).toBe(true);
      const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
      const status = await redis.hget(`${env.QUEUE_PREFIX}:t:local:job:${late.body.id}`, 'status');
      await redis.quit();
      expect(['succeeded', 'queued']).toContain(status);
    } finally {
      proc.child.kill('SIGKILL');
      await cleanup(env.QUEUE_PREFIX!);
    }
  });

  it('runs the API and a worker as separate processes sharing one Redis', async () => {
    const port = await freePort();
    const env = testEnv({ PORT: String(port) });
    const api = run(START, ['--role', 'api'], env);
    const base = `http://127.0.0.1:${port}`;
    let worker: Proc | undefined;
    try {
      await ready(base);
      const r = await call(base, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'two processes' } });
      expect(r.status).toBe(202);
      await new Promise((res) => setTimeout(res, 300));
      expect((await call(base, 'GET', `/v1/jobs/${r.body.id}`)).body.status).toBe('queued'); // no worker yet
      worker = run(WORKER, [], env);
      const job = await waitForJob(base, r.body.id);
      expect(job.status).toBe('succeeded');
      worker.child.kill('SIGTERM');
      api.child.kill('SIGTERM');
      expect(await worker.exit).toBe(0);
      expect(await api.exit).toBe(0);
    } finally {
      api.child.kill('SIGKILL');
      worker?.child.kill('SIGKILL');
      await cleanup(env.QUEUE_PREFIX!);
    }
  });

  it('starts a private redis-server when nothing answers at REDIS_URL, and says so', async () => {
    const port = await freePort();
    const redisPort = await freePort();
    const env = testEnv({ PORT: String(port), REDIS_URL: `redis://127.0.0.1:${redisPort}`, LOG_LEVEL: 'info' });
    const proc = run(START, [], env);
    const base = `http://127.0.0.1:${port}`;
    try {
      await ready(base);
      expect(proc.output()).toMatch(/starting a private redis-server/);
      const r = await call(base, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'private redis' } }, { prefer: 'wait=10' });
      expect(r.body.status).toBe('succeeded');
      proc.child.kill('SIGTERM');
      expect(await proc.exit).toBe(0);
      const probe = new Redis(`redis://127.0.0.1:${redisPort}`, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 300));
      await expect(probe.connect()).rejects.toThrow(); // the private Redis went with it
      probe.disconnect();
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  it.each([
    ['a wrong config value', { PORT: 'eighty' }, /PORT: must be a whole number/],
    ['a non-loopback bind without API keys', { HOST: '0.0.0.0' }, /not a loopback address and no API keys/],
    ['a models dir without models', { MODELS_DIR: '/nonexistent' }, /no models found/],
  ])('refuses to start with %s', async (_name, overrides, message) => {
    const env = testEnv({ PORT: String(await freePort()), ...overrides });
    const proc = run(START, [], env);
    expect(await proc.exit).toBe(1);
    expect(proc.output()).toMatch(message);
  });
});
