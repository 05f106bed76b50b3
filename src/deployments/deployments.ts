/**
 * Deployments of adapters to serving engines: what may be deployed where (checked before
 * anything is queued), the records (`t:<tenant>:deploy:<adapter id>`, one per name), and the
 * deploy / undeploy jobs that do the work with retries (deploy-runner.ts).
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../errors/app-error.js';
import { DEPLOYMENTS_QUEUE } from '../jobs/queue-names.js';
import type { DeploymentJob, DeployRequest } from '../jobs/payloads.js';
import type { RedisKeys } from '../store/redis-keys.js';
import { publishedDir } from './publisher.js';
import type { DeployTarget, DeployTargets } from './targets.js';

export type DeploymentStatus = 'pending' | 'loaded' | 'failed' | 'unloading';

/** The public Deployment object. */
export interface DeploymentView {
  object: 'deployment';
  adapter_id: string;
  target: string;
  kind: DeployTarget['kind'];
  name: string;
  status: DeploymentStatus;
  /** Where the engine reads it. */
  lora_path: string;
  /** The engine's answer (or ours) when it failed. */
  error: string | null;
  attempts: number;
  created_at: string;
  updated_at: string;
}

/** What a deployment check needs to know of the adapter. */
export interface DeployableAdapter {
  id: string;
  format: string;
  r: number;
  /** The generator's base architecture (manifest base_model.arch), when known. */
  arch?: string;
}

export interface DeploymentsOptions {
  redis: Redis;
  /** The connection BullMQ's queue uses (default: `redis`); see createApiRedis for why the API keeps them apart. */
  queueConnection?: Redis;
  keys: RedisKeys;
  targets: DeployTargets;
  attempts: number;
  backoffMs: number;
}

export class Deployments {
  readonly queue: Queue;
  private readonly redis: Redis;
  private readonly keys: RedisKeys;
  readonly targets: DeployTargets;
  private closed = false;

  constructor(o: DeploymentsOptions) {
    this.redis = o.redis;
    this.keys = o.keys;
    this.targets = o.targets;
    this.queue = new Queue(DEPLOYMENTS_QUEUE, {
      connection: o.queueConnection ?? o.redis,
      prefix: o.keys.prefix,
      defaultJobOptions: { attempts: o.attempts, backoff: { type: 'exponential', delay: o.backoffMs }, removeOnComplete: true, removeOnFail: { age: 24 * 3600, count: 1000 } },
    });
    this.queue.on('error', () => undefined);
  }

  /**
   * The target and name a deployment would use, or the error a client gets: 404 for a target
   * this tenant may not use (exactly as for one that does not exist), 422 for an adapter the
   * engine could not load (format, rank over its --max-lora-rank, another architecture).
   */
  check(tenant: string, adapter: DeployableAdapter, req: DeployRequest): { target: DeployTarget; name: string } {
    const target = this.targets.forTenant(tenant, req.target);
    if (!target) throw new AppError('not_found', `No deployment target named "${req.target.slice(0, 64)}".`, { details: [{ path: ['target'], message: 'unknown target' }] });
    if (adapter.format !== 'peft') {
      throw new AppError('unprocessable_input', `Target "${target.name}" serves LLM LoRA adapters in PEFT format; this adapter is ${adapter.format}.`);
    }
    if (adapter.r > target.max_lora_rank) {
      throw new AppError('unprocessable_input', `This adapter has rank ${adapter.r}; target "${target.name}" serves ranks up to ${target.max_lora_rank} (its --max-lora-rank).`);
    }
    if (target.arch && adapter.arch && target.arch !== adapter.arch) {
      throw new AppError('unprocessable_input', `Target "${target.name}" serves a ${target.arch} model; this adapter was generated for a ${adapter.arch} base.`);
    }
    return { target, name: req.name ?? adapter.id };
  }

  /** Records a pending deployment and queues its work. 409 when another adapter holds the name there. */
  async create(tenant: string, adapter: DeployableAdapter, req: DeployRequest, jobId?: string): Promise<DeploymentView> {
    const { target, name } = this.check(tenant, adapter, req);
    const owner = `${tenant} ${adapter.id}`;
    await this.redis.hsetnx(this.keys.deployNames(target.name), name, owner);
    const holder = await this.redis.hget(this.keys.deployNames(target.name), name);
    if (holder !== owner) throw new AppError('conflict', `Target "${target.name}" already serves another adapter as "${name}"; choose another name.`);
    const now = new Date().toISOString();
    const prev = await this.get(tenant, adapter.id, name);
    const view: DeploymentView = {
      object: 'deployment', adapter_id: adapter.id, target: target.name, kind: target.kind, name, status: 'pending',
      lora_path: publishedDir(target.path, name), error: null, attempts: 0, created_at: prev?.created_at ?? now, updated_at: now,
    };
    await this.redis.hset(this.keys.deployments(tenant, adapter.id), name, JSON.stringify(view));
    await this.enqueue({ v: 1, action: 'deploy', tenant, adapter_id: adapter.id, name, target: target.name, ...(jobId ? { job_id: jobId } : {}) });
    return view;
  }

  async list(tenant: string, adapterId: string): Promise<DeploymentView[]> {
    const all = await this.redis.hvals(this.keys.deployments(tenant, adapterId));
    return all.map((v) => JSON.parse(v) as DeploymentView).sort((a, b) => a.created_at.localeCompare(b.created_at) || a.name.localeCompare(b.name));
  }

  async get(tenant: string, adapterId: string, name: string): Promise<DeploymentView | undefined> {
    const v = await this.redis.hget(this.keys.deployments(tenant, adapterId), name);
    return v ? (JSON.parse(v) as DeploymentView) : undefined;
  }

  /** Updates a record (only if it still exists). */
  async update(tenant: string, adapterId: string, name: string, patch: Partial<DeploymentView>): Promise<DeploymentView | undefined> {
    const prev = await this.get(tenant, adapterId, name);
    if (!prev) return undefined;
    const next = { ...prev, ...patch, updated_at: new Date().toISOString() };
    await this.redis.hset(this.keys.deployments(tenant, adapterId), name, JSON.stringify(next));
    return next;
  }

  /** Marks the deployment unloading and queues the unload and unpublish. */
  async remove(tenant: string, adapterId: string, name: string): Promise<DeploymentView | undefined> {
    const view = await this.update(tenant, adapterId, name, { status: 'unloading' });
    if (view) await this.enqueue({ v: 1, action: 'undeploy', tenant, adapter_id: adapterId, name, target: view.target });
    return view;
  }

  /** Unloads and unpublishes every deployment of adapters that were removed (deleted, expired, evicted). */
  async removeAll(tenant: string, adapterIds: string[]): Promise<void> {
    for (const id of adapterIds) for (const d of await this.list(tenant, id)) await this.remove(tenant, id, d.name);
  }

  /** Forgets a deployment whose unload and unpublish are done. */
  async drop(tenant: string, adapterId: string, name: string, target: string): Promise<void> {
    await this.redis.hdel(this.keys.deployments(tenant, adapterId), name);
    if ((await this.redis.hget(this.keys.deployNames(target), name)) === `${tenant} ${adapterId}`) await this.redis.hdel(this.keys.deployNames(target), name);
  }

  private async enqueue(job: DeploymentJob): Promise<void> {
    await this.queue.add(job.action, job, { jobId: `${job.action}-${job.tenant}-${job.adapter_id.slice(3, 19)}-${job.target}-${job.name}-${Date.now()}` });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.close();
  }
}
