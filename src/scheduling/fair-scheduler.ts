/**
 * The producer side of fair scheduling (see fair-scripts.ts): a new computation goes straight
 * into the generate queue while there is room and nobody waits; otherwise into its tenant's
 * list, for a dispatcher to move by weighted round robin.
 */
import type { Redis } from 'ioredis';
import type { GenerateQueue } from '../jobs/generate-queue.js';
import type { GenerateJob } from '../jobs/payloads.js';
import { LuaScript } from '../store/lua-runner.js';
import type { RedisKeys } from '../store/redis-keys.js';
import type { TenantSettings } from '../tenants/tenant-settings.js';
import { FAIR_SUBMIT } from './fair-scripts.js';

const submitScript = new LuaScript(FAIR_SUBMIT);

/** BullMQ options a computation is added with (kept with it while it waits). */
export interface EnqueueOptions {
  removeOnFail?: boolean;
}

export interface FairSchedulerOptions {
  redis: Redis;
  keys: RedisKeys;
  queue: GenerateQueue;
  /** Computations in the generate queue at once (SCHEDULER_DEPTH). */
  depth: number;
  settings: TenantSettings;
}

export type SubmitOutcome = 'direct' | 'inflight' | 'deferred' | 'pending';

/**
 * @example
 * await scheduler.submit(payload); // 'direct': in BullMQ now; 'deferred': waits its turn
 */
export class FairScheduler {
  constructor(private readonly o: FairSchedulerOptions) {}

  /**
   * Submits a computation. Idempotent: a computation already in flight is added again (a no-op
   * in BullMQ, and the repair when a producer died between deciding and adding), one already
   * waiting is left alone.
   */
  async submit(payload: GenerateJob, opts: EnqueueOptions = {}): Promise<SubmitOutcome> {
    const { keys } = this.o;
    const args = (entry: string) => [keys.fairPrefix(), payload.tenant, payload.computation, entry, Date.now(), this.o.depth, this.o.settings.maxRunning(payload.tenant), keys.tenants()];
    // The fast path sends no payload to the script; only a computation that must wait does.
    let outcome = (await submitScript.run(this.o.redis, [], args(''))) as SubmitOutcome | 'need-entry';
    if (outcome === 'need-entry') outcome = (await submitScript.run(this.o.redis, [], args(JSON.stringify({ p: payload, o: opts })))) as SubmitOutcome;
    if (outcome === 'direct' || outcome === 'inflight') await this.o.queue.enqueue(payload, opts);
    return outcome;
  }
}
