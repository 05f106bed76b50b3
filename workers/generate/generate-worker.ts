/**
 * The generate worker: a BullMQ Worker whose processor re-parses each job, starts the shared
 * computation, takes the job's share of the in-flight byte budget, and hands generation to the
 * inference thread pool — forward pass, conversion, hashing and the durable file writes all
 * happen there, so this thread (locks, Redis) never holds a tensor byte. It gets back names,
 * sizes and digests, and ends every job waiting for the adapter (a batch in one Redis call).
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { closeOnce } from '../../src/main/cleanup.js';
import type { Config } from '../../src/config/config.js';
import type { Logger } from '../../src/logging/logger.js';
import { deployRequestSchema, generateJobSchema, type GenerateJob } from '../../src/jobs/payloads.js';
import { DEPLOYMENTS_QUEUE, GENERATE_QUEUE } from '../../src/jobs/queue-names.js';
import { InferencePool } from '../../src/inference/inference-pool.js';
import { Batcher } from '../../src/inference/batcher.js';
import type { ModelRegistry } from '../../src/models/model-registry.js';
import { targetModules } from '../../src/models/model-view.js';
import { rankWarnings, rowFloat32Bytes } from '../../src/adapters/assemble.js';
import { DTYPE_BYTES, type Dtype } from '../../src/adapters/dtype.js';
import { ByteBudget } from '../../src/inference/byte-budget.js';
import { modelVersion, type Manifest } from '../../src/models/manifest-schema.js';
import { AdapterStore, type AdapterRecord } from '../../src/store/adapter-store.js';
import { adapterStoreOptions, jobStoreOptions } from '../../src/main/store-options.js';
import { TenantSettings } from '../../src/tenants/tenant-settings.js';
import { Sweeper } from '../../src/lifecycle/sweeper.js';
import { Dispatcher } from '../../src/scheduling/dispatcher.js';
import { Deployments } from '../../src/deployments/deployments.js';
import { DeployTargets } from '../../src/deployments/targets.js';
import { runDeploymentJob } from '../../src/deployments/deploy-runner.js';
import { GenerateQueue } from '../../src/jobs/generate-queue.js';
import { JobStore, type FinishOutcome } from '../../src/store/job-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { createWorkerRedis } from '../../src/main/redis-client.js';
import { Metrics } from '../../src/observability/metrics.js';
import { ChunkProgress, readParentState } from './chunked-job.js';

export interface GenerateWorker {
  worker: Worker;
  pool: InferencePool;
  /** Adapter bytes in flight (its `peak` is what backpressure is measured by). */
  budget: ByteBudget;
  /** The store's sweeper (started when GC_INTERVAL_SECONDS > 0; `runOnce` sweeps now). */
  sweeper: Sweeper;
  close(): Promise<void>;
}

/** Bytes one job holds while generated: its float32 outputs, plus their converted copy. */
export function jobBytes(manifest: Manifest, dtype: Dtype): number {
  const f32 = rowFloat32Bytes(manifest);
  return dtype === 'float32' ? f32 : f32 + (f32 / 4) * DTYPE_BYTES[dtype];
}

/**
 * The largest batch a model runs: the manifest's `max_batch` when it gives one, else as many
 * rows as fit in half the byte budget (so a batch can be written while the next computes).
 */
export function modelMaxBatch(manifest: Manifest, batchMaxSize: number, bytesInFlight: number): number {
  const derived = Math.max(1, Math.floor(bytesInFlight / 2 / jobBytes(manifest, 'float16')));
  return Math.max(1, Math.min(batchMaxSize, manifest.max_batch ?? derived));
}

interface Deps {
  config: Readonly<Config>;
  registry: ModelRegistry;
  jobs: JobStore;
  adapters: AdapterStore;
  pool: InferencePool;
  batcher: Batcher;
  budget: ByteBudget;
  deployments: Deployments;
  log: Logger;
  metrics: Metrics;
  progress: ChunkProgress;
}

async function fail(deps: Deps, data: GenerateJob, code: string, message: string): Promise<void> {
  deps.metrics.jobsFinished.inc({ model: data.model, status: 'failed' });
  await deps.jobs.finishComputation({ tenant: data.tenant, adapterId: data.adapter_id, computation: data.computation, outcome: 'failed', error: { code, message } });
}

/** The deployments jobs asked for up front, now that their adapter exists (checked at request time). */
async function startDeployments(deps: Deps, tenant: string, record: AdapterRecord, asked: FinishOutcome['deploys'], log: Logger): Promise<void> {
  if (asked.length === 0) return;
  const arch = deps.registry.get(record.model)?.manifest.base_model.arch;
  for (const { jobId, requests } of asked) {
    for (const raw of requests) {
      const req = deployRequestSchema.safeParse(raw);
      if (!req.success) continue;
      try {
        await deps.deployments.create(tenant, { id: record.id, format: record.format, r: record.r, arch }, req.data, jobId);
      } catch (err) {
        log.warn({ err: (err as Error).message, target: req.data.target, jobId }, 'could not start a deployment the job asked for');
      }
    }
  }
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
  if (!model || modelVersion(model.manifest) !== data.model_sha256) {
    const message = model ? `model ${data.model} changed since the job was queued` : `model ${data.model} is not loaded by this worker`;
    await fail(deps, data, 'model_unavailable', message);
    throw new UnrecoverableError(message);
  }
  if (job.processedOn) deps.metrics.queueWait.observe({ model: data.model }, Math.max(0, job.processedOn - job.timestamp) / 1000);
  if (data.queued_ms && job.attemptsMade === 0) deps.metrics.tenantWait.observe({ tenant: data.tenant }, Math.max(0, Date.now() - data.queued_ms) / 1000);
  const { live, removing } = await deps.jobs.startComputation(data.tenant, data.adapter_id, data.computation);
  if (live.length === 0) {
    log.info('every job waiting for this computation was canceled; skipping it');
    return { adapter_id: data.adapter_id, skipped: true };
  }
  log.debug({ jobs: live }, 'generating adapter');
  // The same id's old files (evicted, expired) are still being removed: writing now could lose
  // the new ones to that removal.
  if (removing) await deps.jobs.removalDone(data.tenant, data.adapter_id);
  try {
    // Past the budget, the job waits here before any of its tensors exist.
    const parentId = data.kind === 'text' ? data.extends : undefined;
    const parent = parentId ? await readParentState(deps.adapters, data.tenant, parentId, model.manifest) : undefined;
    if (parentId && !parent) {
      const message = `the adapter it extends (${parentId}) was removed before it could be read; regenerate it and send the request again`;
      await fail(deps, data, 'gone', message);
      throw new UnrecoverableError(message);
    }
    const tracked = model.manifest.chunking ? deps.progress.track(data.tenant, data.computation) : undefined;
    const release = await deps.budget.acquire(jobBytes(model.manifest, data.options.dtype));
    let generated;
    try {
      generated = await deps.batcher.submit(data.model, {
        tenant: data.tenant,
        adapterId: data.adapter_id,
        modelSha256: data.model_sha256,
        ...(data.kind === 'text' ? { input: data.input } : { images: data.images }),
        options: data.options,
        ...(parent ? { parent } : {}),
        ...(tracked ? { progressId: tracked.progressId } : {}),
      });
    } finally {
      release();
      tracked?.done();
    }
    const { result, timings, batchSize } = generated;
    if (!result.ok) {
      // Transient (a store write, a thread that died): retried; the catch below records the
      // failure with its attempt count once the last attempt fails too.
      if (result.error.retryable) throw new Error(result.error.message);
      await fail(deps, data, result.error.code, result.error.message);
      throw new UnrecoverableError(result.error.message);
    }
    const m = model.manifest;
    const warnings = rankWarnings(m.lora.r);
    const record: AdapterRecord = {
      id: data.adapter_id,
      object: 'adapter',
      model: m.id,
      model_sha256: modelVersion(m),
      format: data.options.format,
      base_model: m.base_model.name_or_path,
      r: m.lora.r,
      lora_alpha: m.lora.lora_alpha,
      use_rslora: m.lora.use_rslora,
      target_modules: targetModules(m),
      dtype: data.options.dtype,
      files: result.files,
      created_at: new Date().toISOString(),
      ...(parentId ? { extends: parentId } : {}),
      ...(result.context ? { context_tokens: result.context.tokens } : {}),
      ...(warnings.length ? { warnings } : {}),
    };
    const finished = await deps.jobs.finishComputation({ tenant: data.tenant, adapterId: data.adapter_id, computation: data.computation, outcome: 'succeeded', adapterRecord: record });
    // Evicted adapters' files, and this one's when the quota refused it (markers hold off a
    // regeneration of those ids until their files are gone).
    await deps.adapters.removeFiles(data.tenant, finished.refused ? [...finished.evicted, data.adapter_id] : finished.evicted);
    deps.metrics.adaptersEvicted.inc(finished.evicted.length);
    if (!finished.refused) await startDeployments(deps, data.tenant, record, finished.deploys, log);
    deps.metrics.jobsFinished.inc({ model: data.model, status: finished.refused ? 'failed' : 'succeeded' });
    log.info({ jobs: finished.done, evicted: finished.evicted.length, refused: finished.refused, batchSize, ...timings }, 'adapter written');
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
  const maxBatch = (id: string) => {
    const m = registry.get(id)?.manifest;
    return m ? modelMaxBatch(m, config.batchMaxSize, config.adapterBytesInFlight) : 1;
  };
  let jobs: JobStore | undefined;
  const progress = new ChunkProgress({ jobs: () => jobs!, drop: (id) => pool.drop(id), log });
  const pool = new InferencePool({
    threads: config.inferenceThreads,
    log,
    onProgress: progress.onProgress,
    init: {
      models: models.map((m) => ({
        id: m.manifest.id,
        generatorPath: m.generatorPath,
        ...(m.combinePath ? { combinePath: m.combinePath } : {}),
        tokenizerPath: m.manifest.condition.kind === 'text' ? `${m.dir}/${m.manifest.condition.tokenizer}` : null,
        manifest: m.manifest,
        maxBatch: maxBatch(m.manifest.id),
      })),
      executionProviders: config.executionProviders,
      intraOpThreads: config.ortIntraOpThreads,
      dataDir: config.dataDir,
      fsync: config.storeFsync,
      store: config.store,
      chunkPassRows: config.chunkPassRows,
      // Idle output buffers kept for reuse (no page faults, no GC churn): half the budget per
      // process, and never less than one job's buffers (a smaller cache would only churn).
      bufferCacheBytes: Math.floor(Math.max(config.adapterBytesInFlight / 2, ...models.map((m) => jobBytes(m.manifest, 'float16'))) / config.inferenceThreads),
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
  const deployments = new Deployments({ redis, keys, targets: DeployTargets.fromFile(config.deployTargetsFile), attempts: config.deployAttempts, backoffMs: config.deployBackoffMs });
  const adapters = new AdapterStore({ ...adapterStoreOptions(config, redis, keys), onRemoved: (tenant, ids) => deployments.removeAll(tenant, ids) });
  const tenantSettings = TenantSettings.fromConfig(config);
  const deps: Deps = {
    config,
    registry,
    jobs: (jobs = new JobStore(jobStoreOptions(config, redis, keys, tenantSettings))),
    adapters,
    pool,
    batcher: new Batcher({
      runner: pool,
      maxBatch,
      maxWaitMs: config.batchMaxWaitMs,
      onBatch: (model, size, timings) => {
        metrics.batchSize.observe({ model }, size);
        metrics.generation.observe({ model }, timings.forwardMs / 1000);
      },
    }),
    budget: new ByteBudget(config.adapterBytesInFlight),
    deployments,
    log,
    metrics,
    progress,
  };
  metrics.watchBudget(deps.budget);
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
  // Deployments to serving engines (publish + load; unload + unpublish), retried while an engine is down.
  const deployWorker = new Worker(DEPLOYMENTS_QUEUE, (job) => runDeploymentJob({ deployments, adapters, redis, keys, log: log.child({ component: 'deployments' }) }, job), {
    connection: redis, prefix: config.queuePrefix, concurrency: 4, lockDuration: config.workerLockMs, stalledInterval: config.stalledIntervalMs,
  });
  deployWorker.on('error', (err) => log.warn({ err }, 'deploy worker error'));
  // Moves computations waiting for their tenant's turn into the queue as room frees up.
  const producer = new GenerateQueue({ connection: redis, prefix: config.queuePrefix, attempts: config.jobAttempts, backoffMs: config.jobBackoffMs });
  const dispatcher = new Dispatcher({ redis, keys, queue: producer, depth: config.schedulerDepth, settings: tenantSettings, log: log.child({ component: 'dispatcher' }) });
  dispatcher.start();
  worker.on('completed', () => dispatcher.kick());
  worker.on('failed', () => dispatcher.kick());
  const sweeper = new Sweeper({ redis, keys, store: adapters, graceMs: config.gcGraceSeconds * 1000, batch: config.gcBatch, jobRetentionSeconds: config.jobRetentionSeconds, log: log.child({ component: 'sweeper' }), metrics });
  if (config.gcIntervalSeconds > 0) sweeper.start(config.gcIntervalSeconds * 1000);
  return {
    worker,
    pool,
    budget: deps.budget,
    sweeper,
    close: closeOnce(log, () => [
    ['sweeper', () => sweeper.close()],
    ['dispatcher', () => dispatcher.close()],
    ['deployments', async () => {
      await deployWorker.close();
      await deployments.close();
    }],
    // Waits for running jobs; main() bounds the whole shutdown with a timer.
    ['worker', () => worker.close()],
    ['batcher', async () => deps.batcher.close()],
    ['pool', () => pool.close()],
    ['producer', () => producer.close()],
    ['redis', () => redis.quit().catch(() => redis.disconnect())],
    ]),
  };
}
