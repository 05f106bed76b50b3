/**
 * Runs deploy and undeploy jobs (BullMQ, in the worker processes): publish the adapter where the
 * engine reads it, check it as the engine will, ask the engine to load it; or unload and
 * unpublish. An engine that cannot be reached or fails on its side is retried with backoff;
 * one that refuses fails the deployment with its answer.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { deploymentJobSchema, type DeploymentJob } from '../jobs/payloads.js';
import type { Logger } from '../logging/logger.js';
import type { AdapterStore } from '../store/adapter-store.js';
import type { RedisKeys } from '../store/redis-keys.js';
import { emitDeployEvent } from './deploy-event.js';
import type { Deployments } from './deployments.js';
import { EngineError, loadAdapter, unloadAdapter } from './engine-client.js';
import { peftProblems } from './peft-rules.js';
import { publish, unpublish } from './publisher.js';
import type { DeployTarget } from './targets.js';

export interface DeployRunnerDeps {
  deployments: Deployments;
  adapters: AdapterStore;
  redis: Redis;
  keys: RedisKeys;
  log: Logger;
}

export async function runDeploymentJob(deps: DeployRunnerDeps, job: Job): Promise<string> {
  const parsed = deploymentJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`invalid deployment payload: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const data = parsed.data;
  const target = deps.deployments.targets.get(data.target);
  const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  if (!target) {
    await fail(deps, data, `the target "${data.target}" is no longer configured`);
    throw new UnrecoverableError('unknown target');
  }
  return data.action === 'deploy' ? deploy(deps, data, target, job.attemptsMade + 1, lastAttempt) : undeploy(deps, data, target, lastAttempt);
}

async function fail(deps: DeployRunnerDeps, data: DeploymentJob, message: string): Promise<void> {
  const view = await deps.deployments.update(data.tenant, data.adapter_id, data.name, { status: 'failed', error: message });
  if (view) await emitDeployEvent(deps.redis, deps.keys, data.tenant, data.job_id, view);
}

async function deploy(deps: DeployRunnerDeps, data: DeploymentJob, target: DeployTarget, attempt: number, lastAttempt: boolean): Promise<string> {
  const { tenant, adapter_id: id, name } = data;
  const current = await deps.deployments.get(tenant, id, name);
  if (!current || current.status === 'unloading') return 'removed meanwhile';
  const found = await deps.adapters.index.lookup(tenant, id);
  if (found.state !== 'ok') {
    await fail(deps, data, `adapter ${id} is gone (${found.state === 'gone' ? found.reason : found.state})`);
    throw new UnrecoverableError('adapter gone');
  }
  await deps.deployments.update(tenant, id, name, { attempts: attempt });
  try {
    const blobs = deps.adapters.blobs;
    const files = Object.fromEntries(found.entry.record.files.map((f) => [f.name, blobs.localPath ? { path: blobs.localPath(tenant, id, f.name) } : { open: () => blobs.open(tenant, id, f.name) }]));
    const dir = await publish({ files, root: target.path, name, baseModel: target.served_model });
    const problems = await peftProblems(dir, { maxRank: target.max_lora_rank, baseModel: target.served_model });
    if (problems.length > 0) {
      await unpublish(target.path, name);
      throw new EngineError(`the adapter would not load: ${problems.join('; ')}`, false);
    }
    await loadAdapter(target, name, dir);
  } catch (err) {
    const retryable = err instanceof EngineError ? err.retryable : true;
    const message = (err as Error).message;
    if (!retryable || lastAttempt) {
      await unpublish(target.path, name).catch(() => undefined);
      await fail(deps, data, message);
      throw new UnrecoverableError(message);
    }
    await deps.deployments.update(tenant, id, name, { error: message });
    deps.log.warn({ target: target.name, name, attempt, err: message }, 'deployment attempt failed; retrying');
    throw err;
  }
  // Removed while it was being loaded: take it back out.
  const after = await deps.deployments.get(tenant, id, name);
  if (!after || after.status === 'unloading') {
    await unloadAdapter(target, name).catch(() => undefined);
    await unpublish(target.path, name);
    return 'removed meanwhile';
  }
  const view = await deps.deployments.update(tenant, id, name, { status: 'loaded', error: null });
  if (view) await emitDeployEvent(deps.redis, deps.keys, tenant, data.job_id, view);
  deps.log.info({ target: target.name, name, adapterId: id }, 'adapter deployed');
  return 'loaded';
}

async function undeploy(deps: DeployRunnerDeps, data: DeploymentJob, target: DeployTarget, lastAttempt: boolean): Promise<string> {
  try {
    await unloadAdapter(target, data.name);
  } catch (err) {
    if (!lastAttempt) throw err;
    deps.log.warn({ target: target.name, name: data.name, err: (err as Error).message }, 'unload failed on every attempt; unpublishing anyway');
  }
  await unpublish(target.path, data.name);
  await deps.deployments.drop(data.tenant, data.adapter_id, data.name, target.name);
  return 'unloaded';
}
