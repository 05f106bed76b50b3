/**
 * The generate worker: a BullMQ Worker whose processor re-parses each job, starts the shared
 * computation, hands the forward pass to the inference thread pool (so this thread stays free
 * to renew locks), writes the adapter atomically and ends every job waiting for it.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { closeOnce } from '../../src/main/cleanup.js';
import type { Config } from '../../src/config/config.js';
import type { Logger } from '../../src/logging/logger.js';
import { generateJobSchema, type GenerateJob } from '../../src/jobs/payloads.js';
import { GENERATE_QUEUE } from '../../src/jobs/queue-names.js';
import { InferencePool } from '../../src/inference/inference-pool.js';
import { Batcher } from '../../src/inference/batcher.js';
import type { ModelRegistry } from '../../src/models/model-registry.js';
import { targetModules } from '../../src/models/model-view.js';
import { fileDigest, rankWarnings } from '../../src/adapters/assemble.js';
import { AdapterStore, type AdapterRecord } from '../../src/store/adapter-store.js';
import { JobStore } from '../../src/store/job-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { createWorkerRedis } from '../../src/main/redis-client.js';
import { Metrics } from '../../src/observability/metrics.js';

export interface GenerateWorker {
  worker: Worker;
  pool: InferencePool;
  close(): Promise<void>;
}

interface Deps {
  config: Readonly<Config>;
  registry: ModelRegistry;
  jobs: JobStore;
  adapters: AdapterStore;
  pool: InferencePool;
  batcher: Batcher;
  log: Logger;
  metrics: Metrics;
}

async function fail(deps: Deps, data: GenerateJob, code: string, message: string): Promise<void> {
  deps.metrics.jobsFinished.inc({ model: data.model, status: 'failed' });
  await deps.jobs.finishComputation({ tenant: data.tenant, adapterId: data.adapter_id, computation: data.computation, outcome: 'failed', error: { code, message } });
}

export async function processGenerateJob(deps: Deps, job: Job): Promise<{ adapter_id: string; skipped?: boolean; batch_size?: number }> {
  const parsed = generateJobSchema.safeParse(job.data);
  if (!parsed.success) {
    throw new UnrecoverableError(`invalid generate payload: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const data = parsed.data;
  const log = deps.log.child({ bullJobId: job.id, adapterId: data.adapter_id, tenant: data.tenant });
  const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  const model = deps.registry.get(data.model);
  if (!model || model.manifest.sha256 !== data.model_sha256) {
    const message = model ? `model ${data.model} changed since the job was queued` : `model ${data.model} is not loaded by this worker`;
    await fail(deps, data, 'model_unavailable', message);
    throw new UnrecoverableError(message);
  }
  if (job.processedOn) deps.metrics.queueWait.observe({ model: data.model }, Math.max(0, job.processedOn - job.timestamp) / 1000);
  const live = await deps.jobs.startComputation(data.tenant, data.adapter_id, data.computation);
  if (live.length === 0) {
    log.info('every job waiting for this computation was canceled; skipping it');
    return { adapter_id: data.adapter_id, skipped: true };
  }
  log.info({ jobs: live }, 'generating adapter');
  try {
    const { result, timings, batchSize } = await deps.batcher.submit(data.model, {
      adapterId: data.adapter_id,
      modelSha256: data.model_sha256,
      ...(data.kind === 'text' ? { input: data.input } : { images: data.images }),
      options: data.options,
    });
    if (!result.ok) {
      if (result.error.retryable && !lastAttempt) throw new Error(result.error.message);
      await fail(deps, data, result.error.code, result.error.message);
      throw new UnrecoverableError(result.error.message);
    }
    await deps.jobs.setProgress(data.tenant, data.computation, 0.9);
    const files = result.files.map((f) => ({ name: f.name, data: new Uint8Array(f.data) }));
    await deps.adapters.writeFiles(data.tenant, data.adapter_id, files);
    const m = model.manifest;
    const warnings = rankWarnings(m.lora.r);
    const record: AdapterRecord = {
      id: data.adapter_id,
      object: 'adapter',
      model: m.id,
      model_sha256: m.sha256,
      format: data.options.format,
      base_model: m.base_model.name_or_path,
      r: m.lora.r,
      lora_alpha: m.lora.lora_alpha,
      use_rslora: m.lora.use_rslora,
      target_modules: targetModules(m),
      dtype: data.options.dtype,
      files: files.map((f) => ({ name: f.name, bytes: f.data.byteLength, sha256: fileDigest(f.data) })),
      created_at: new Date().toISOString(),
      ...(warnings.length ? { warnings } : {}),
    };
    const done = await deps.jobs.finishComputation({ tenant: data.tenant, adapterId: data.adapter_id, computation: data.computation, outcome: 'succeeded', adapterRecord: record });
    deps.metrics.jobsFinished.inc({ model: data.model, status: 'succeeded' });
    log.info({ jobs: done, batchSize, ...timings }, 'adapter written');
    return { adapter_id: data.adapter_id, batch_size: batchSize };
  } catch (err) {
    if (err instanceof UnrecoverableError) throw err;
    if (lastAttempt) {
      await fail(deps, data, 'generation_failed', `generation failed after ${job.attemptsMade + 1} attempts: ${(err as Error).message}`).catch(
        (e: unknown) => log.error({ err: e }, 'could not record the failure'),
      );
    }
    log.warn({ err, attempt: job.attemptsMade + 1 }, 'generation attempt failed');
    throw err;
  }
}

export async function startGenerateWorker(config: Readonly<Config>, registry: ModelRegistry, log: Logger, metrics: Metrics = new Metrics()): Promise<GenerateWorker> {
  const models = registry.list();
  const pool = new InferencePool({
    threads: config.inferenceThreads,
    log,
    init: {
      models: models.map((m) => ({
        id: m.manifest.id,
        generatorPath: m.generatorPath,
        tokenizerPath: m.manifest.condition.kind === 'text' ? `${m.dir}/${m.manifest.condition.tokenizer}` : null,
        manifest: m.manifest,
      })),
      executionProviders: config.executionProviders,
      intraOpThreads: config.ortIntraOpThreads,
    },
  });
  try {
    await pool.ready();
  } catch (err) {
    await pool.close();
    throw err;
  }
  log.info({ providers: pool.providers, threads: config.inferenceThreads }, 'inference pool ready');
  const redis = createWorkerRedis(config.redisUrl);
  const keys = new RedisKeys(config.queuePrefix);
  const deps: Deps = {
    config,
    registry,
    jobs: new JobStore({ redis, keys, retentionSeconds: config.jobRetentionSeconds, idempotencyTtlSeconds: config.idempotencyTtlSeconds }),
    adapters: new AdapterStore({ redis, keys, dataDir: config.dataDir, fsync: config.storeFsync }),
    pool,
    batcher: new Batcher({
      runner: pool,
      maxBatch: (id) => Math.min(config.batchMaxSize, registry.get(id)?.manifest.max_batch ?? Infinity),
      maxWaitMs: config.batchMaxWaitMs,
      onBatch: (model, size, timings) => {
        metrics.batchSize.observe({ model }, size);
        metrics.generation.observe({ model }, timings.forwardMs / 1000);
      },
    }),
    log,
    metrics,
  };
  const worker = new Worker(GENERATE_QUEUE, (job) => processGenerateJob(deps, job), {
    connection: redis,
    prefix: config.queuePrefix,
    concurrency: config.workerConcurrency,
    lockDuration: config.workerLockMs,
    stalledInterval: config.stalledIntervalMs,
    // A computation whose worker died is retried once more; content addressing makes a
    // second run write the same bytes, so "exactly once in the store" holds either way.
    maxStalledCount: 2,
  });
  worker.on('error', (err) => log.warn({ err }, 'worker error'));
  return {
    worker,
    pool,
    close: closeOnce(log, () => [
    // Waits for running jobs; main() bounds the whole shutdown with a timer.
    ['worker', () => worker.close()],
    ['batcher', async () => deps.batcher.close()],
    ['pool', () => pool.close()],
    ['redis', () => redis.quit().catch(() => redis.disconnect())],
    ]),
  };
}
