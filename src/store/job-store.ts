/**
 * Job records in Redis: what the API serves for `JOB_RETENTION_SECONDS`, independent of BullMQ's
 * own job data (which is trimmed as soon as a job ends). Every state change goes through one of
 * the atomic scripts in lua-scripts.ts and is announced on the events channel (and, when the
 * job's webhook subscribes to it, appended to the webhook outbox in the same script).
 */
import { randomHex } from './random-hex.js';
import type { Redis } from 'ioredis';
import { AppError } from '../errors/app-error.js';
import { REMOVAL_MARKER_MS } from './adapter-scripts.js';
import { CANCEL_JOB, CREATE_JOB, FINISH_COMPUTATIONS, PROGRESS_COMPUTATION, START_COMPUTATIONS } from './lua-scripts.js';
import { Coalescer } from './coalescer.js';
import { LuaScript } from './lua-runner.js';
import { JOB_STATUSES, jobView, type JobStatus, type JobView } from './job-view.js';
import { RedisKeys } from './redis-keys.js';
import { pageNewestFirst } from './cursor.js';

const createJob = new LuaScript(CREATE_JOB);
const startComputations = new LuaScript(START_COMPUTATIONS);
const progressComputation = new LuaScript(PROGRESS_COMPUTATION);
const finishComputations = new LuaScript(FINISH_COMPUTATIONS);
const cancelJob = new LuaScript(CANCEL_JOB);

export const JOB_ID_PATTERN = /^job_[0-9a-f]{24}$/;

export function newJobId(): string {
  return `job_${randomHex(12)}`;
}

export interface CreateJobInput {
  tenant: string;
  kind: 'text' | 'images';
  model: string;
  adapterId: string;
  metadata: Record<string, string>;
  webhook?: unknown;
  /** sha256 of the Idempotency-Key and of the canonical body, when the client sent a key. */
  idempotency?: { keyHash: string; bodyHash: string };
  /** About how many bytes the adapter will store (checked against the tenant's quota on a miss). */
  estimatedBytes?: number;
  /** Deployments to make once the adapter exists (checked by the caller). */
  deploy?: unknown[];
}

export type CreateJobResult = (
  | { outcome: 'cached'; jobId: string }
  | { outcome: 'queued'; jobId: string; computation: string; createdComputation: boolean }
  | { outcome: 'existing'; jobId: string }
) & { /** The record as the create script left it (no second round trip). */ job: JobView };

export interface JobStoreOptions {
  redis: Redis;
  keys: RedisKeys;
  retentionSeconds: number;
  idempotencyTtlSeconds: number;
  /** Queued or running jobs per tenant; 0 = unlimited. */
  maxActiveJobs?: number;
  /** How long the record of a cache hit is kept (default: retentionSeconds). */
  cachedRetentionSeconds?: number;
  /** Job records kept per tenant; 0 = unlimited (bounded by age only). */
  maxJobsPerTenant?: number;
  /** An unpinned adapter expires this long after its last use (default: never). */
  adapterTtlSeconds?: number;
  /** The tenant's storage quota in bytes; 0 = unlimited (default). */
  quotaBytes?: (tenant: string) => number;
}

/** What finishing a computation did besides ending its jobs. */
export interface FinishOutcome {
  /** The job ids it ended. */
  done: string[];
  /** Adapters evicted to make room (index entries gone; their files are the caller's to remove). */
  evicted: string[];
  /** True when the adapter could not be stored for lack of quota (its files are to be removed). */
  refused: boolean;
  /** Deployments the ended jobs asked for up front (`deploy` of POST /v1/adapters). */
  deploys: { jobId: string; requests: unknown[] }[];
}

const NEVER_SECONDS = 100 * 365 * 24 * 3600;

export interface FinishComputationInput {
  tenant: string;
  adapterId: string;
  computation: string;
  outcome: 'succeeded' | 'failed';
  adapterRecord?: { model: string; files: { bytes: number }[] };
  error?: { code: string; message: string };
}

export class JobStore {
  private readonly redis: Redis;
  /** Starts and finishes of one event-loop turn go to Redis as one script call each. */
  private readonly starts = new Coalescer((inputs: { tenant: string; adapterId: string; computation: string }[]) => this.startMany(inputs));
  private readonly finishes = new Coalescer((inputs: FinishComputationInput[]) => this.finishMany(inputs));
  readonly keys: RedisKeys;
  private readonly retentionSeconds: number;
  private readonly idempotencyTtlSeconds: number;
  private readonly maxActiveJobs: number;
  private readonly cachedRetentionSeconds: number;
  private readonly maxJobsPerTenant: number;
  private readonly adapterTtlMs: number;
  private readonly quotaBytes: (tenant: string) => number;

  constructor(options: JobStoreOptions) {
    if (!Number.isInteger(options.retentionSeconds) || options.retentionSeconds < 1) throw new TypeError('retentionSeconds must be a positive integer');
    this.redis = options.redis;
    this.keys = options.keys;
    this.retentionSeconds = options.retentionSeconds;
    this.idempotencyTtlSeconds = options.idempotencyTtlSeconds;
    this.maxActiveJobs = options.maxActiveJobs ?? 0;
    this.cachedRetentionSeconds = options.cachedRetentionSeconds ?? options.retentionSeconds;
    this.maxJobsPerTenant = options.maxJobsPerTenant ?? 0;
    this.adapterTtlMs = (options.adapterTtlSeconds ?? NEVER_SECONDS) * 1000;
    this.quotaBytes = options.quotaBytes ?? (() => 0);
  }

  /**
   * Creates a job record: already succeeded when the adapter exists (a cache hit), otherwise
   * queued and attached to the adapter's computation (creating it when none runs).
   * Throws `conflict` when the idempotency key was used with another body.
   */
  async create(input: CreateJobInput): Promise<CreateJobResult> {
    const { tenant } = input;
    const jobId = newJobId();
    const now = new Date();
    // Compact: a field that would be empty is not written (jobView reads absence as empty).
    const fields: Record<string, string> = { id: jobId, kind: input.kind, model: input.model, status: 'queued', created_at: now.toISOString() };
    if (Object.keys(input.metadata).length > 0) fields.metadata = JSON.stringify(input.metadata);
    if (input.webhook !== undefined) fields.webhook = JSON.stringify(input.webhook);
    if (input.deploy?.length) fields.deploy = JSON.stringify(input.deploy);
    const idem = input.idempotency;
    const reply = (await createJob.run(
      this.redis,
      [
        this.keys.adapter(tenant, input.adapterId),
        this.keys.job(tenant, jobId),
        this.keys.jobs(tenant),
        this.keys.computation(tenant, input.adapterId),
        idem ? this.keys.idempotency(tenant, idem.keyHash) : this.keys.idempotency(tenant, '-'),
        this.keys.webhookOutbox(),
      ],
      [
        jobId,
        now.toISOString(),
        now.getTime(),
        this.retentionSeconds,
        idem ? idem.bodyHash : '',
        this.idempotencyTtlSeconds,
        randomHex(20),
        this.keys.waitersPrefix(tenant),
        input.adapterId,
        JSON.stringify(fields),
        this.keys.events(),
        tenant,
        this.maxActiveJobs,
        this.adapterTtlMs,
        this.quotaBytes(tenant),
        input.estimatedBytes ?? 0,
        this.cachedRetentionSeconds,
        this.maxJobsPerTenant,
        this.keys.tenantPrefix(tenant),
        this.retentionSeconds,
      ],
    )) as string[];
    const [outcome, id] = reply as [string, string];
    if (outcome === 'insufficient') throw new AppError('insufficient_storage', id);
    if (outcome === 'limited') {
      throw new AppError('rate_limited', `This tenant already has ${id} jobs queued or running (the limit); retry when some have ended.`, { retryAfter: 5 });
    }
    if (outcome === 'conflict') {
      throw new AppError('conflict', 'This Idempotency-Key was already used with a different request body.');
    }
    const flat = reply[reply.length - 1] as unknown as string[];
    const record: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
    const job = jobView(record);
    if (outcome === 'cached') return { outcome, jobId: id, job };
    if (outcome === 'existing') return { outcome, jobId: id, job };
    return { outcome: 'queued', jobId: id, computation: reply[2]!, createdComputation: reply[3] === '1', job };
  }

  async get(tenant: string, jobId: string): Promise<JobView | undefined> {
    if (!JOB_ID_PATTERN.test(jobId)) return undefined;
    const h = await this.redis.hgetall(this.keys.job(tenant, jobId));
    return h.id ? jobView(h) : undefined;
  }

  /** The raw record (includes internal fields such as `webhook` and `computation`). */
  async getRecord(tenant: string, jobId: string): Promise<Record<string, string> | undefined> {
    if (!JOB_ID_PATTERN.test(jobId)) return undefined;
    const h = await this.redis.hgetall(this.keys.job(tenant, jobId));
    return h.id ? h : undefined;
  }

  /**
   * Newest first. The cursor is opaque to clients: it encodes the last item's (score, id). A
   * status filter walks that status's index, so a filtered page costs what an unfiltered one
   * does; members whose records have expired are removed from the indexes as they are met.
   */
  async list(tenant: string, opts: { limit: number; cursor?: string; status?: JobStatus }): Promise<{ data: JobView[]; nextCursor: string | null }> {
    const key = opts.status ? this.keys.jobsByStatus(tenant, opts.status) : this.keys.jobs(tenant);
    return pageNewestFirst(this.redis, key, opts, async (ids) => {
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.keys.job(tenant, id));
      const records = ((await pipeline.exec()) ?? []).map(([, h]) => h as Record<string, string> | undefined);
      const dead = ids.filter((_, i) => !records[i]?.id);
      if (dead.length > 0) {
        // Expired records: drop them from every index so no later page walks over them again.
        const cleanup = this.redis.pipeline().zrem(this.keys.jobs(tenant), ...dead);
        for (const st of JOB_STATUSES) cleanup.zrem(this.keys.jobsByStatus(tenant, st), ...dead);
        await cleanup.exec();
      }
      const items = records.map((h) => (h?.id ? jobView(h) : undefined)).map((v) => (v && (!opts.status || v.status === opts.status) ? v : undefined));
      return { items, removed: dead.length };
    });
  }

  /** Per tenant (those that submitted computations): queued and running jobs, deferred computations. */
  async tenantJobCounts(): Promise<{ tenant: string; queued: number; running: number; deferred: number }[]> {
    const tenants = (await this.redis.smembers(this.keys.tenants())).slice(0, 10000);
    const pipeline = this.redis.pipeline();
    for (const t of tenants) pipeline.zcard(this.keys.jobsByStatus(t, 'queued')).zcard(this.keys.jobsByStatus(t, 'running')).llen(`${this.keys.fairPrefix()}q:${t}`);
    const n = ((await pipeline.exec()) ?? []).map(([, v]) => Number(v ?? 0));
    return tenants.map((tenant, i) => ({ tenant, queued: n[3 * i]!, running: n[3 * i + 1]!, deferred: n[3 * i + 2]! }));
  }

  /** Marks the job canceled. Throws not_found, or conflict when it has already ended. */
  async cancel(tenant: string, jobId: string): Promise<JobView> {
    if (!JOB_ID_PATTERN.test(jobId)) throw new AppError('not_found', `No job with id ${jobId}.`);
    const reply = (await cancelJob.run(
      this.redis,
      [this.keys.job(tenant, jobId), this.keys.webhookOutbox()],
      [new Date().toISOString(), this.keys.waitersPrefix(tenant), this.keys.events(), tenant, jobId],
    )) as string[];
    if (reply[0] === 'missing') throw new AppError('not_found', `No job with id ${jobId}.`);
    if (reply[0] === 'conflict') throw new AppError('conflict', `Job ${jobId} has already ended (${reply[1]}); it cannot be canceled.`);
    const view = await this.get(tenant, jobId);
    if (!view) throw new AppError('not_found', `No job with id ${jobId}.`);
    return view;
  }

  /**
   * Marks the computation's queued jobs running; returns the ids still waiting for it, and
   * whether the adapter's old files are still being removed (then wait for `removalDone`).
   */
  startComputation(tenant: string, adapterId: string, computation: string): Promise<{ live: string[]; removing: boolean }> {
    return this.starts.call({ tenant, adapterId, computation });
  }

  private async startMany(inputs: { tenant: string; adapterId: string; computation: string }[]): Promise<{ live: string[]; removing: boolean }[]> {
    const keys = [this.keys.webhookOutbox()];
    const args: (string | number)[] = [new Date().toISOString(), this.keys.events(), this.keys.fairPrefix()];
    for (const c of inputs) {
      keys.push(this.keys.waiters(c.tenant, c.computation), this.keys.computation(c.tenant, c.adapterId), this.keys.removing(c.tenant, c.adapterId));
      args.push(this.keys.jobPrefix(c.tenant), c.computation, c.tenant);
    }
    const replies = (await startComputations.run(this.redis, keys, args)) as string[][];
    return replies.map(([flag, ...live]) => ({ live, removing: flag === '1' }));
  }

  /** Sets a running computation's progress (0–1) on its jobs; resolves to how many still wait for it. */
  async progress(tenant: string, computation: string, fraction: number): Promise<number> {
    const keys = [this.keys.webhookOutbox(), this.keys.waiters(tenant, computation)];
    return Number(await progressComputation.run(this.redis, keys, [this.keys.events(), this.keys.jobPrefix(tenant), tenant, String(Math.round(fraction * 1e4) / 1e4)]));
  }

  /**
   * Resolves once no removal of the adapter's old files is in progress (a marker lives at most
   * REMOVAL_MARKER_MS, so a remover that died holds nothing up for longer).
   */
  async removalDone(tenant: string, adapterId: string): Promise<void> {
    const deadline = Date.now() + REMOVAL_MARKER_MS;
    while ((await this.redis.exists(this.keys.removing(tenant, adapterId))) === 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Ends a computation: records the adapter (on success) and ends every job still waiting.
   * Calls of the same turn (a batch) share one script call.
   */
  finishComputation(args: FinishComputationInput): Promise<FinishOutcome> {
    return this.finishes.call(args);
  }

  private async finishMany(inputs: FinishComputationInput[]): Promise<FinishOutcome[]> {
    const now = new Date();
    const keys = [this.keys.webhookOutbox()];
    const args: (string | number)[] = [now.toISOString(), now.getTime(), this.keys.events(), this.keys.tenants(), this.retentionSeconds, REMOVAL_MARKER_MS, this.keys.fairPrefix()];
    for (const c of inputs) {
      keys.push(this.keys.adapter(c.tenant, c.adapterId), this.keys.adapters(c.tenant), this.keys.waiters(c.tenant, c.computation), this.keys.computation(c.tenant, c.adapterId));
      args.push(
        this.keys.jobPrefix(c.tenant),
        c.computation,
        c.tenant,
        c.outcome,
        c.adapterId,
        c.adapterRecord === undefined ? '' : JSON.stringify(c.adapterRecord),
        c.error ? JSON.stringify(c.error) : '',
        this.keys.tenantPrefix(c.tenant),
        c.adapterRecord ? c.adapterRecord.files.reduce((n, f) => n + f.bytes, 0) : 0,
        c.adapterRecord?.model ?? '',
        this.quotaBytes(c.tenant),
      );
    }
    const replies = (await finishComputations.run(this.redis, keys, args)) as [string[], string[], string, string[]][];
    return replies.map(([done, evicted, refused, flat]) => {
      const deploys: FinishOutcome['deploys'] = [];
      for (let i = 0; i < (flat?.length ?? 0); i += 2) deploys.push({ jobId: flat[i]!, requests: JSON.parse(flat[i + 1]!) as unknown[] });
      return { done, evicted, refused: refused === '1', deploys };
    });
  }
}
