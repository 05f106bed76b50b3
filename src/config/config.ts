/**
 * The one place that reads `process.env`. It parses the environment with zod once, at boot,
 * into a frozen, typed object; a wrong value stops start-up with a message naming the variable.
 */
import path from 'node:path';
import os from 'node:os';
import { z } from 'zod';

const bool = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no'], { message: 'must be one of 0, 1, true, false, yes, no' })
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const positiveNumber = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a positive number')
  .transform(Number)
  .pipe(z.number().positive('must be greater than 0'));

const PROVIDERS = ['cpu', 'cuda', 'tensorrt', 'dml', 'coreml'] as const;

const envSchema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/.+/, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  /** Starts a private redis-server when nothing answers at REDIS_URL (npm start only). */
  REDIS_AUTOSTART: bool.default(true),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -')
    .default('hyperadapt'),
  DATA_DIR: z.string().min(1).default('./data'),
  /** Where adapters are stored: unset = the filesystem under DATA_DIR; s3://bucket/prefix = S3. */
  STORE_URL: z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9!_.*'()\/-]*)?$/, 'must be s3://bucket[/prefix]').optional(),
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_FORCE_PATH_STYLE: bool.default(false),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** `presigned`: file downloads answer 302 to a short-lived presigned S3 URL instead of streaming. */
  DOWNLOAD_REDIRECT: z.enum(['none', 'presigned']).default('none'),
  /** fsync adapter files and directories before indexing them (crash durability; costs ms). */
  STORE_FSYNC: bool.default(true),
  MODELS_DIR: z.string().min(1).default('./models'),
  /** Extra model directories (comma-separated roots), e.g. test fixtures. */
  EXTRA_MODELS_DIRS: z.string().default(''),
  DEFAULT_MODEL: z.string().default('generative-adapter-tiny'),
  EXECUTION_PROVIDERS: z
    .string()
    .default('cpu')
    .transform((v) => v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))
    .pipe(z.array(z.enum(PROVIDERS, { message: `each must be one of ${PROVIDERS.join(', ')}` })).min(1, 'must name at least one provider')),
  INFERENCE_THREADS: int(1, 64).default(Math.max(1, Math.min(4, os.availableParallelism() - 1))),
  ORT_INTRA_OP_THREADS: int(0, 64).default(1),
  WORKER_CONCURRENCY: int(1, 1024).default(64),
  /** Largest batch of queued jobs run in one forward pass (1 = no batching). */
  BATCH_MAX_SIZE: int(1, 1024).default(32),
  /** Chunked models: windows per forward pass (progress is reported and cancellation honoured between passes). */
  CHUNK_PASS_ROWS: int(1, 1024).default(8),
  /** Chunked models: the most context tokens one adapter reads (with its ancestors), below window × max_chunks. */
  MAX_CONTEXT_TOKENS: int(1, 10_000_000).default(65536),
  /** While every inference thread is busy, how long a queued job waits for batch-mates at most. */
  BATCH_MAX_WAIT_MS: int(0, 1000).default(20),
  /**
   * Adapter bytes a worker process holds in flight at once (generator outputs as float32 plus
   * their converted copy); jobs beyond it wait before any tensor exists. Also sizes a model's
   * batch when its manifest gives no max_batch (two batches fit, so writing overlaps computing).
   */
  ADAPTER_BYTES_IN_FLIGHT: int(1024 * 1024, 1024 ** 4).default(512 * 1024 * 1024),
  MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** Subject images: bytes per image, bytes per request, pixels per image (decompression bombs). */
  MAX_IMAGE_BYTES: int(1024, 256 * 1024 * 1024).default(10 * 1024 * 1024),
  MAX_UPLOAD_BYTES: int(1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  MAX_IMAGE_PIXELS: int(1, 1_000_000_000).default(40_000_000),
  JOB_ATTEMPTS: int(1, 20).default(3),
  JOB_BACKOFF_MS: int(0, 600000).default(1000),
  JOB_RETENTION_SECONDS: int(60, 365 * 24 * 3600).default(7 * 24 * 3600),
  /** Records of cache hits (which hold nothing the adapter does not) are kept this long. */
  JOB_CACHED_RETENTION_SECONDS: int(1, 365 * 24 * 3600).default(3600),
  /** Job records kept per tenant (oldest ended ones go first); 0 = bounded by age only. */
  JOB_MAX_PER_TENANT: int(0, 100_000_000).default(0),
  /** An unpinned adapter expires this long after its creation or last use. */
  ADAPTER_TTL_SECONDS: int(1, 100 * 365 * 24 * 3600).default(30 * 24 * 3600),
  /** Bytes of adapters a tenant may store (unset = unlimited; the keys file may override per tenant). */
  TENANT_STORAGE_QUOTA_BYTES: int(1, Number.MAX_SAFE_INTEGER).optional(),
  /** How often a worker runs the store's sweeper (expiry, crash leftovers, repairs); 0 = never. */
  GC_INTERVAL_SECONDS: int(0, 24 * 3600).default(60),
  /** Files and directories no index entry points to are removed only after this long. */
  GC_GRACE_SECONDS: int(0, 30 * 24 * 3600).default(3600),
  /** Most adapters one sweep expires, and most directories it inspects. */
  GC_BATCH: int(1, 1_000_000).default(1000),
  /** A download holds its adapter against eviction and expiry this long (renewed while it runs). */
  DOWNLOAD_LEASE_SECONDS: int(1, 3600).default(60),
  IDEMPOTENCY_TTL_SECONDS: int(60, 7 * 24 * 3600).default(24 * 3600),
  SHUTDOWN_TIMEOUT_MS: int(100, 600000).default(15000),
  API_KEYS: z.string().default(''),
  /** Requests per second per API key (per tenant in open mode); 0 = unlimited. */
  RATE_LIMIT_RPS: int(0, 1_000_000).default(200),
  /** Jobs a tenant may have queued or running at once; 0 = unlimited. */
  MAX_ACTIVE_JOBS: int(0, 10_000_000).default(10000),
  /**
   * Computations in the generate queue (waiting or running) at once; past it they wait in their
   * tenant's list and are dispatched fairly. Keep it ≥ workers × WORKER_CONCURRENCY.
   */
  SCHEDULER_DEPTH: int(1, 1_000_000).default(256),
  /** Computations of one tenant in flight at once across all workers; 0 = no cap. */
  TENANT_MAX_RUNNING: int(0, 1_000_000).default(0),
  /** Event streams (SSE) one tenant may hold open on one API process. */
  MAX_STREAMS_PER_TENANT: int(1, 1_000_000).default(100),
  /** Previews (POST /v1/adapters/{id}/generate) queued at once on one API process (more: 429). */
  PREVIEW_MAX_PENDING: int(1, 100_000).default(64),
  /** A preview not answered within this long is a 503 (the server is saturated). */
  PREVIEW_TIMEOUT_MS: int(100, 600_000).default(20_000),
  /** Previews one tenant may have in progress on one API process. */
  MAX_PREVIEWS_PER_TENANT: int(1, 100_000).default(8),
  /** `Prefer: wait` requests one tenant may have waiting on one API process. */
  MAX_WAITS_PER_TENANT: int(1, 1_000_000).default(100),
  /** Comma-separated origins allowed by CORS; unset = CORS off (no Access-Control headers). */
  CORS_ORIGINS: z.string().default(''),
  /** BullMQ lock duration: a worker that stops renewing (killed) loses its jobs after this. */
  WORKER_LOCK_MS: int(1000, 600000).default(30000),
  /** How often workers look for stalled jobs (their holder died). */
  STALLED_INTERVAL_MS: int(500, 600000).default(30000),
  /** Key for /admin/queues (bull-board); unset = the admin UI is off. */
  ADMIN_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  /** A worker process serves /metrics on this port when set (the API serves its own). */
  METRICS_PORT: int(1, 65535).optional(),
  API_KEYS_FILE: z.string().default(''),
  /** JSON file of serving-engine targets adapters may be deployed to (unset = none). */
  DEPLOY_TARGETS_FILE: z.string().default(''),
  /** Attempts of a deployment while its engine is down or failing, with exponential backoff. */
  DEPLOY_ATTEMPTS: int(1, 50).default(8),
  DEPLOY_BACKOFF_MS: int(0, 600000).default(1000),
  WEBHOOK_ALLOW_HOSTS: z.string().default(''),
  WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  WEBHOOK_RETRY_SCALE: positiveNumber.default(1),
  /** A delivery that has not answered within this long counts as a failed attempt. */
  WEBHOOK_TIMEOUT_MS: int(1, 120000).default(15000),
  WEBHOOK_CONCURRENCY: int(1, 256).default(16),
  /** Outbox entries a dead dispatcher read but never enqueued are taken over after this long. */
  WEBHOOK_CLAIM_IDLE_MS: int(10, 24 * 3600 * 1000).default(60000),
  /** SSE comment lines keep proxies from closing an idle event stream. */
  EVENTS_HEARTBEAT_MS: int(10, 300000).default(15000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = z.infer<typeof envSchema>;

/** Where adapters live (plain data: it is also handed to the writer threads). */
export type StoreConfig =
  | { kind: 'fs' }
  | { kind: 's3'; bucket: string; prefix: string; endpoint?: string; region: string; forcePathStyle: boolean; accessKeyId?: string; secretAccessKey?: string };

function storeConfig(e: Env): StoreConfig {
  if (!e.STORE_URL) return { kind: 'fs' };
  const rest = e.STORE_URL.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  return { kind: 's3', bucket, prefix, endpoint: e.S3_ENDPOINT, region: e.S3_REGION, forcePathStyle: e.S3_FORCE_PATH_STYLE, accessKeyId: e.AWS_ACCESS_KEY_ID, secretAccessKey: e.AWS_SECRET_ACCESS_KEY };
}

export interface Config {
  port: number;
  host: string;
  redisUrl: string;
  redisAutostart: boolean;
  queuePrefix: string;
  dataDir: string;
  storeFsync: boolean;
  store: StoreConfig;
  downloadRedirect: 'none' | 'presigned';
  modelsDirs: string[];
  defaultModel: string;
  executionProviders: string[];
  inferenceThreads: number;
  ortIntraOpThreads: number;
  workerConcurrency: number;
  batchMaxSize: number;
  chunkPassRows: number;
  maxContextTokens: number;
  batchMaxWaitMs: number;
  adapterBytesInFlight: number;
  maxBodyBytes: number;
  maxImageBytes: number;
  maxUploadBytes: number;
  maxImagePixels: number;
  jobAttempts: number;
  jobBackoffMs: number;
  jobRetentionSeconds: number;
  jobCachedRetentionSeconds: number;
  jobMaxPerTenant: number;
  adapterTtlSeconds: number;
  tenantStorageQuotaBytes: number | undefined;
  gcIntervalSeconds: number;
  gcGraceSeconds: number;
  gcBatch: number;
  downloadLeaseSeconds: number;
  idempotencyTtlSeconds: number;
  shutdownTimeoutMs: number;
  apiKeys: string;
  rateLimitRps: number;
  maxActiveJobs: number;
  schedulerDepth: number;
  tenantMaxRunning: number;
  maxStreamsPerTenant: number;
  maxWaitsPerTenant: number;
  previewMaxPending: number;
  previewTimeoutMs: number;
  maxPreviewsPerTenant: number;
  corsOrigins: string[];
  workerLockMs: number;
  stalledIntervalMs: number;
  adminKey: string | undefined;
  metricsPort: number | undefined;
  apiKeysFile: string;
  deployTargetsFile: string;
  deployAttempts: number;
  deployBackoffMs: number;
  webhookAllowHosts: string[];
  webhookAllowPrivate: boolean;
  webhookRetryScale: number;
  webhookTimeoutMs: number;
  webhookConcurrency: number;
  webhookClaimIdleMs: number;
  eventsHeartbeatMs: number;
  logLevel: Env['LOG_LEVEL'];
}

/** A start-up error whose message names each variable that is wrong. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Parses an environment into a frozen Config. Empty strings count as unset.
 *
 * @example
 * const config = loadConfig(process.env); // throws ConfigError: "PORT: must be at most 65535"
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const relevant: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') relevant[key] = v;
  }
  const parsed = envSchema.safeParse(relevant);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const config: Config = {
    port: e.PORT,
    host: e.HOST,
    redisUrl: e.REDIS_URL,
    redisAutostart: e.REDIS_AUTOSTART,
    queuePrefix: e.QUEUE_PREFIX,
    dataDir: path.resolve(e.DATA_DIR),
    storeFsync: e.STORE_FSYNC,
    store: storeConfig(e),
    downloadRedirect: e.DOWNLOAD_REDIRECT,
    modelsDirs: [path.resolve(e.MODELS_DIR), ...list(e.EXTRA_MODELS_DIRS).map((d) => path.resolve(d))],
    defaultModel: e.DEFAULT_MODEL,
    executionProviders: e.EXECUTION_PROVIDERS,
    inferenceThreads: e.INFERENCE_THREADS,
    ortIntraOpThreads: e.ORT_INTRA_OP_THREADS,
    workerConcurrency: e.WORKER_CONCURRENCY,
    batchMaxSize: e.BATCH_MAX_SIZE,
    chunkPassRows: e.CHUNK_PASS_ROWS,
    maxContextTokens: e.MAX_CONTEXT_TOKENS,
    batchMaxWaitMs: e.BATCH_MAX_WAIT_MS,
    adapterBytesInFlight: e.ADAPTER_BYTES_IN_FLIGHT,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxImageBytes: e.MAX_IMAGE_BYTES,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    maxImagePixels: e.MAX_IMAGE_PIXELS,
    jobAttempts: e.JOB_ATTEMPTS,
    jobBackoffMs: e.JOB_BACKOFF_MS,
    jobRetentionSeconds: e.JOB_RETENTION_SECONDS,
    jobCachedRetentionSeconds: e.JOB_CACHED_RETENTION_SECONDS,
    jobMaxPerTenant: e.JOB_MAX_PER_TENANT,
    adapterTtlSeconds: e.ADAPTER_TTL_SECONDS,
    tenantStorageQuotaBytes: e.TENANT_STORAGE_QUOTA_BYTES,
    gcIntervalSeconds: e.GC_INTERVAL_SECONDS,
    gcGraceSeconds: e.GC_GRACE_SECONDS,
    gcBatch: e.GC_BATCH,
    downloadLeaseSeconds: e.DOWNLOAD_LEASE_SECONDS,
    idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    apiKeys: e.API_KEYS,
    rateLimitRps: e.RATE_LIMIT_RPS,
    maxActiveJobs: e.MAX_ACTIVE_JOBS,
    schedulerDepth: e.SCHEDULER_DEPTH,
    tenantMaxRunning: e.TENANT_MAX_RUNNING,
    maxStreamsPerTenant: e.MAX_STREAMS_PER_TENANT,
    maxWaitsPerTenant: e.MAX_WAITS_PER_TENANT,
    previewMaxPending: e.PREVIEW_MAX_PENDING,
    previewTimeoutMs: e.PREVIEW_TIMEOUT_MS,
    maxPreviewsPerTenant: e.MAX_PREVIEWS_PER_TENANT,
    corsOrigins: list(e.CORS_ORIGINS),
    workerLockMs: e.WORKER_LOCK_MS,
    stalledIntervalMs: e.STALLED_INTERVAL_MS,
    adminKey: e.ADMIN_KEY,
    metricsPort: e.METRICS_PORT,
    apiKeysFile: e.API_KEYS_FILE,
    deployTargetsFile: e.DEPLOY_TARGETS_FILE,
    deployAttempts: e.DEPLOY_ATTEMPTS,
    deployBackoffMs: e.DEPLOY_BACKOFF_MS,
    webhookAllowHosts: list(e.WEBHOOK_ALLOW_HOSTS),
    webhookAllowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
    webhookRetryScale: e.WEBHOOK_RETRY_SCALE,
    webhookTimeoutMs: e.WEBHOOK_TIMEOUT_MS,
    webhookConcurrency: e.WEBHOOK_CONCURRENCY,
    webhookClaimIdleMs: e.WEBHOOK_CLAIM_IDLE_MS,
    eventsHeartbeatMs: e.EVENTS_HEARTBEAT_MS,
    logLevel: e.LOG_LEVEL,
  };
  return Object.freeze(config);
}

const clientEnvSchema = z.object({
  HYPERADAPT_URL: z.string().regex(/^https?:\/\/.+/, 'must be an http(s) URL').default('http://127.0.0.1:8080'),
  HYPERADAPT_API_KEY: z.string().min(1).optional(),
});

/** The CLI's settings (flags override them). */
export function loadClientConfig(env: Record<string, string | undefined> = process.env): Readonly<{ url: string; apiKey: string | undefined }> {
  const parsed = clientEnvSchema.safeParse({ HYPERADAPT_URL: env.HYPERADAPT_URL || undefined, HYPERADAPT_API_KEY: env.HYPERADAPT_API_KEY || undefined });
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  return Object.freeze({ url: parsed.data.HYPERADAPT_URL, apiKey: parsed.data.HYPERADAPT_API_KEY });
}
