/**
 * One Redis subscription per process to the job events channel, fanned out to every local
 * listener (requests holding `Prefer: wait`, and SSE streams), so a thousand waiting clients
 * cost one connection, not a thousand. This channel, not BullMQ's QueueEvents, because it
 * carries every change of *our* job records: one BullMQ job serves many of our jobs, and cache
 * hits and cancels never touch BullMQ at all.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

export interface JobEvent {
  tenant: string;
  jobId: string;
  status: string;
  /** `job.queued`, `job.started`, `job.progress`, `job.succeeded`, `job.failed`, `job.canceled`. */
  type: string;
  /** The job's event number (its record's `seq` field once the event happened). */
  seq: number;
  /** The job record as the event left it (a snapshot taken inside the same Lua script). */
  record: Record<string, string>;
}

export class JobEvents {
  private readonly emitter = new EventEmitter();
  private readonly subscriber: Redis;
  private started: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly redis: Redis, private readonly channel: string) {
    this.emitter.setMaxListeners(0);
    this.subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: true });
    this.subscriber.on('error', () => undefined); // reconnects by itself; readiness reports Redis health
    this.subscriber.on('message', (_channel: string, message: string) => {
      try {
        const m = JSON.parse(message) as { t: string; j: string; s: string; e?: string; q?: number; r?: Record<string, string> };
        this.emitter.emit(`${m.t}:${m.j}`, { tenant: m.t, jobId: m.j, status: m.s, type: m.e ?? '', seq: m.q ?? 0, record: m.r ?? {} } satisfies JobEvent);
      } catch {
        /* not ours */
      }
    });
  }

  private start(): Promise<void> {
    this.started ??= this.subscriber.connect().then(() => this.subscriber.subscribe(this.channel).then(() => undefined));
    return this.started;
  }

  /**
   * Calls `listener` for each event of one job until the returned function is called.
   *
   * @example
   * const off = await events.listen('local', jobId, (e) => console.log(e.status));
   */
  async listen(tenant: string, jobId: string, listener: (e: JobEvent) => void): Promise<() => void> {
    await this.start();
    const name = `${tenant}:${jobId}`;
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  /**
   * Resolves when `isDone()` is true or after `ms`, whichever is first. `isDone` is checked once
   * right after subscribing (so an event that fired before the subscription is not missed) and
   * again after every event of the job.
   */
  async waitUntil(tenant: string, jobId: string, ms: number, isDone: (event?: JobEvent) => Promise<boolean>, signal?: AbortSignal): Promise<void> {
    let off: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        signal?.addEventListener('abort', () => resolve(), { once: true });
        const check = (event?: JobEvent) => isDone(event).then((done) => done && resolve(), () => resolve());
        this.listen(tenant, jobId, (event) => void check(event)).then(
          (o) => {
            off = o;
            void check();
          },
          () => resolve(),
        );
      });
    } finally {
      clearTimeout(timer);
      off?.();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.emitter.removeAllListeners();
    try {
      await this.subscriber.quit();
    } catch {
      this.subscriber.disconnect();
    }
  }
}
