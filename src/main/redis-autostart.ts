/**
 * `npm start` on a bare machine: when nothing answers at REDIS_URL (a loopback address) and
 * `redis-server` is installed, start a private one with its data under DATA_DIR and say so.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export async function ensureRedis(url: string, dataDir: string, log: Logger): Promise<ChildProcess | undefined> {
  if (await answers(url)) return undefined;
  const u = new URL(url);
  const loopback = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(u.hostname);
  const installed = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!loopback || !installed) {
    throw new Error(`Nothing answers at ${url}${loopback ? ' and redis-server is not installed (apt-get install -y redis-server)' : ''}.`);
  }
  const dir = path.join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const port = u.port || '6379';
  log.warn({ url, dir }, `nothing answers at ${url}: starting a private redis-server on port ${port} (AOF on, noeviction)`);
  const child = spawn(
    'redis-server',
    ['--port', port, '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 50; i++) {
    if (await answers(url)) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`started redis-server, but it does not answer at ${url}`);
}
