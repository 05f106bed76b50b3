/**
 * The consumer side of fair scheduling: runs in every worker process, moves waiting
 * computations into the generate queue as room frees up (FAIR_DISPATCH, atomic, so any number of
 * dispatchers share the work), adds them to BullMQ, and confirms (FAIR_ACK). It runs when a local
 * job ends (`kick`) and every `pollMs` otherwise.
 */
import type { Redis } from 'ioredis';
import type { GenerateQueue } from '../jobs/generate-queue.js';
import type { GenerateJob } from '../jobs/payloads.js';
import type { Logger } from '../logging/logger.js';
import { LuaScript } from '../store/lua-runner.js';
import type { RedisKeys } from '../store/redis-keys.js';
import type { TenantSettings } from '../tenants/tenant-settings.js';
import { FAIR_ACK, FAIR_DISPATCH } from './fair-scripts.js';
import type { EnqueueOptions } from './fair-scheduler.js';

const dispatchScript = new LuaScript(FAIR_DISPATCH);
const ackScript = new LuaScript(FAIR_ACK);

export interface DispatcherOptions {
  redis: Redis;
  keys: RedisKeys;
  queue: GenerateQueue;
  depth: number;
  settings: TenantSettings;
  log: Logger;
  /** How often an idle dispatcher looks for work (default 50 ms). */
  pollMs?: number;
  /** A place in flight older than this is dropped (its computation ended without releasing it). */
  staleMs?: number;
  /** Entries a dispatcher took but never confirmed are re-added after this long. */
  recoverMs?: number;
}

export class Dispatcher {
  private closed = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly o: DispatcherOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Looks for work now (a job ended: there is room). */
  kick(): void {
    this.wake?.();
  }

  /** One dispatch round; returns how many computations it moved into the queue. */
  async runOnce(): Promise<number> {
    const { keys, settings } = this.o;
    const overrides = settings.schedulingOverrides().flatMap((t) => [t.tenant, `${t.weight} ${t.maxRunning}`]);
    const entries = (await dispatchScript.run(this.o.redis, [], [
      keys.fairPrefix(), Date.now(), this.o.depth, 1, settings.defaultMaxRunning, this.o.staleMs ?? 30 * 60_000, this.o.recoverMs ?? 10_000, ...overrides,
    ])) as string[];
    if (entries.length === 0) return 0;
    const parsed = entries.map((e) => JSON.parse(e) as { p: GenerateJob; o: EnqueueOptions });
    await this.o.queue.enqueueMany(parsed.map((e) => ({ payload: e.p, opts: e.o })));
    await ackScript.run(this.o.redis, [], [keys.fairPrefix(), ...parsed.map((e) => e.p.computation)]);
    return entries.length;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      let moved = 0;
      try {
        moved = await this.runOnce();
      } catch (err) {
        if (!this.closed) this.o.log.warn({ err }, 'dispatch failed');
      }
      if (moved > 0 || this.closed) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.pollMs ?? 50);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Idempotent; waits for the round in progress. */
  async close(): Promise<void> {
    this.closed = true;
    this.kick();
    await this.loop;
  }
}
