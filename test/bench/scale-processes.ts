/**
 * Service processes for the scale bench: split (an API process and a worker process) or
 * `npm start`'s single process, on a fresh Redis prefix and data dir, with /proc-based memory
 * readings and a /healthz prober that samples the API's responsiveness while work runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { freePort, until } from '../helpers/net.js';
import { REPO_ROOT } from '../helpers/test-service.js';

export interface ServiceProcs {
  url: string;
  dataDir: string;
  prefix: string;
  pids: Record<string, number>;
  close(): Promise<void>;
}

/** Resident set now (VmRSS) and at its peak (VmHWM), in bytes. */
export function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Starts the service as `mode` ('split' = API + worker processes, 'single' = npm start's one process). */
export async function startProcesses(mode: 'split' | 'single', modelsDirs: string[], env: Record<string, string> = {}): Promise<ServiceProcs> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hyperadapt-scale-'));
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const base = {
    PATH: process.env.PATH ?? '',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_AUTOSTART: '0',
    QUEUE_PREFIX: prefix,
    PORT: String(port),
    DATA_DIR: dataDir,
    MODELS_DIR: modelsDirs[0]!,
    EXTRA_MODELS_DIRS: modelsDirs.slice(1).join(','),
    LOG_LEVEL: 'warn',
    RATE_LIMIT_RPS: '0',
    INFERENCE_THREADS: '1',
    ...env,
  };
  const children: Record<string, ChildProcess> = {};
  const start = (name: string, script: string, args: string[] = []) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, script), ...args], { env: base, stdio: ['ignore', process.env.BENCH_CHILD_LOGS ? 'inherit' : 'ignore', 'inherit'] });
    children[name] = child;
  };
  if (mode === 'split') {
    start('api', 'dist/src/main/start.js', ['--role', 'api']);
    start('worker', 'dist/workers/generate/main.js');
  } else {
    start('service', 'dist/src/main/start.js');
  }
  const url = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, 60000, 'the service to be ready');
  if (mode === 'split') {
    // The worker is ready when its BullMQ worker is registered on the queue.
    const redis = new Redis(base.REDIS_URL);
    await until(async () => (await redis.client('LIST') as string).includes(prefix), 60000, 'the worker');
    await redis.quit();
  }
  return {
    url,
    dataDir,
    prefix,
    pids: Object.fromEntries(Object.entries(children).map(([k, c]) => [k, c.pid!])),
    close: async () => {
      await Promise.all(Object.values(children).map((c) => new Promise<void>((resolve) => {
        if (c.exitCode !== null) return resolve();
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
      })));
      const redis = new Redis(base.REDIS_URL);
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Probes /healthz every `everyMs` from a separate process until stopped; returns p99 and max latency in ms. */
export function healthProber(url: string, everyMs = 10): { stop(): Promise<{ p99: number; max: number; n: number }> } {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/test/bench/health-prober.js'), url, String(everyMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return {
    stop: async () => {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.stdin!.end();
      await exited;
      return JSON.parse(out) as { p99: number; max: number; n: number };
    },
  };
}

/** Samples the peak RSS of `pids` (summed) every 20 ms until stopped. */
export function rssSampler(pids: number[]): { stop(): { sumPeak: number; each: number[] } } {
  let sumPeak = 0;
  const each = pids.map(() => 0);
  const timer = setInterval(() => {
    let sum = 0;
    pids.forEach((pid, i) => {
      const m = memory(pid).rss;
      each[i] = Math.max(each[i]!, m);
      sum += m;
    });
    sumPeak = Math.max(sumPeak, sum);
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return { sumPeak, each };
    },
  };
}
