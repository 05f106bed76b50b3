/**
 * Starts the real service in-process for integration tests: real Redis (a fresh key prefix per
 * service, removed afterwards), real HTTP on loopback, real ONNX sessions in worker threads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { s3Env } from './s3-env.js';
import { createBlobs } from '../../src/blobs/create-blobs.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { ModelRegistry } from '../../src/models/model-registry.js';
import { startApi, type ApiServer } from '../../src/main/api-server.js';
import { Metrics } from '../../src/observability/metrics.js';
import { startGenerateWorker, type GenerateWorker } from '../../workers/generate/generate-worker.js';
import { startWebhookWorker, type WebhookWorker, type WebhookWorkerOptions } from '../../workers/webhooks/webhook-worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Source-tree directories (tests run from dist/test/helpers). */
export const REPO_ROOT = path.resolve(here, '../../..');
export const FIXTURE_MODELS_DIR = path.join(REPO_ROOT, 'test/fixtures/models');
export const SHIPPED_MODELS_DIR = path.join(REPO_ROOT, 'models');

export interface TestService {
  url: string;
  config: Readonly<Config>;
  registry: ModelRegistry;
  api: ApiServer;
  worker: GenerateWorker | undefined;
  redis: Redis;
  /** Number of generator computations the worker completed. */
  completed: () => number;
  startWorker(): Promise<GenerateWorker>;
  /** The webhook worker started last (by `webhooks: true` or startWebhooks). */
  webhooks: WebhookWorker | undefined;
  /** Starts a webhook worker on this service's Redis; `config` overrides parts of its config. */
  startWebhooks(options?: WebhookWorkerOptions & { config?: Partial<Config> }): Promise<WebhookWorker>;
  close(): Promise<void>;
}

export interface TestServiceOptions {
  env?: Record<string, string>;
  worker?: boolean;
  /** Starts a webhook worker too (default false). */
  webhooks?: boolean;
}

/**
 * A service's environment: a fresh Redis prefix and data dir. With TEST_STORE=s3 (npm test's
 * second pass) adapters go to the test object store, under a prefix of their own.
 */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string | undefined> {
  const prefix = `test-${randomBytes(6).toString('hex')}`;
  return {
    REDIS_URL: process.env.REDIS_URL,
    QUEUE_PREFIX: prefix,
    ...(process.env.TEST_STORE === 's3' ? s3Env(prefix) : {}),
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'hyperadapt-test-')),
    MODELS_DIR: FIXTURE_MODELS_DIR,
    LOG_LEVEL: 'silent',
    JOB_BACKOFF_MS: '20',
    INFERENCE_THREADS: '1',
    ...overrides,
  };
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const config = loadConfig(testEnv(options.env));
  const log = createLogger(config.logLevel);
  const registry = await ModelRegistry.load({ dirs: config.modelsDirs });
  const metrics = new Metrics({ processMetrics: false });
  let completed = 0;
  let worker: GenerateWorker | undefined;
  const startWorker = async () => {
    worker = await startGenerateWorker(config, registry, log, metrics);
    worker.worker.on('completed', (_job, result: { skipped?: boolean }) => {
      if (!result?.skipped) completed++;
    });
    return worker;
  };
  if (options.worker !== false) await startWorker();
  const webhookWorkers: WebhookWorker[] = [];
  const startWebhooks = async (o: WebhookWorkerOptions & { config?: Partial<Config> } = {}) => {
    const w = await startWebhookWorker({ ...config, ...o.config }, log, { metrics, ...o });
    webhookWorkers.push(w);
    return w;
  };
  if (options.webhooks) await startWebhooks();
  const api = await startApi(config, registry, log, metrics);
  const redis = new Redis(config.redisUrl);
  return {
    url: api.url,
    config,
    registry,
    api,
    get worker() {
      return worker;
    },
    redis,
    completed: () => completed,
    startWorker,
    get webhooks() {
      return webhookWorkers[webhookWorkers.length - 1];
    },
    startWebhooks,
    close: async () => {
      await api.close();
      await worker?.close();
      for (const w of webhookWorkers) await w.close();
      if (config.store.kind === 's3') {
        // The service's objects go with it (its prefix of the test bucket).
        const blobs = createBlobs(config);
        for (const tenant of await blobs.tenants().catch(() => [] as string[])) {
          for (const a of await blobs.adapters(tenant).catch(() => [])) await blobs.remove(tenant, a.id).catch(() => undefined);
        }
      }
      const keys = await redis.keys(`${config.queuePrefix}:*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** fetch + JSON, for brevity in tests. */
export async function call<T = any>(base: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + url, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

/** Polls a job until it ends. */
export async function waitForJob(base: string, jobId: string, timeoutMs = 20000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(base, 'GET', `/v1/jobs/${jobId}`);
    if (['succeeded', 'failed', 'canceled'].includes(r.body.status)) return r.body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${r.body.status} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 25));
  }
}
