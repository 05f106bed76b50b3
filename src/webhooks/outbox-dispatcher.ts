/**
 * Moves webhook events from the outbox stream (appended by the job scripts, atomically with
 * each state change) into the webhooks queue. It reads with a consumer group, enqueues each
 * entry with an id derived from its webhook-id (a no-op when already there), and only then
 * acknowledges and deletes it; entries that a dead dispatcher read but never acknowledged are
 * taken over with XAUTOCLAIM once idle for WEBHOOK_CLAIM_IDLE_MS. So an event reaches the
 * queue at least once whatever process dies when, and the queue's job id keeps it to one
 * delivery in the normal case.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { RedisKeys } from '../store/redis-keys.js';
import { deliveryFromOutbox } from './outbox-entry.js';
import type { WebhookQueue } from './webhook-queue.js';

/** The consumer group every dispatcher of a deployment shares. */
export const OUTBOX_GROUP = 'dispatchers';
const BATCH = 100;

type StreamEntry = [id: string, fields: string[]];

export interface OutboxDispatcherOptions {
  /** A connection for short commands; the dispatcher duplicates it for its blocking reads. */
  redis: Redis;
  keys: RedisKeys;
  queue: WebhookQueue;
  claimIdleMs: number;
  log: Logger;
}

export class OutboxDispatcher {
  private readonly reader: Redis;
  private readonly consumer = `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly stream: string;
  private loop: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: OutboxDispatcherOptions) {
    this.stream = options.keys.webhookOutbox();
    // XREADGROUP BLOCK holds its connection; close() disconnects it to end the wait at once.
    this.reader = options.redis.duplicate();
    this.reader.on('error', () => undefined);
  }

  /**
   * Starts the read loop (idempotent).
   *
   * @example
   * const d = new OutboxDispatcher({ redis, keys, queue, claimIdleMs: 60000, log });
   * d.start();
   */
  start(): void {
    this.loop ??= this.run();
  }

  private async ensureGroup(): Promise<void> {
    try {
      // From id 0: events written before any dispatcher ever ran are delivered too.
      await this.options.redis.xgroup('CREATE', this.stream, OUTBOX_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
  }

  private async run(): Promise<void> {
    const { claimIdleMs, log } = this.options;
    const pause = Math.max(5, Math.min(1000, Math.floor(claimIdleMs / 2)));
    let groupReady = false;
    let nextClaim = 0;
    while (!this.closed) {
      try {
        if (!groupReady) {
          await this.ensureGroup();
          groupReady = true;
        }
        if (Date.now() >= nextClaim) {
          await this.claim();
          nextClaim = Date.now() + pause;
        }
        const reply = (await this.reader.xreadgroup('GROUP', OUTBOX_GROUP, this.consumer, 'COUNT', BATCH, 'BLOCK', pause, 'STREAMS', this.stream, '>')) as [string, StreamEntry[]][] | null;
        for (const [, entries] of reply ?? []) await this.dispatch(entries);
      } catch (err) {
        if (this.closed) break;
        // NOGROUP: the stream was deleted under us (e.g. a flushed Redis); recreate the group.
        if (/NOGROUP/.test((err as Error).message)) groupReady = false;
        log.warn({ err }, 'webhook outbox read failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Takes over entries another (presumably dead) dispatcher read but never acknowledged. */
  private async claim(): Promise<void> {
    let cursor = '0-0';
    do {
      const reply = (await this.options.redis.xautoclaim(this.stream, OUTBOX_GROUP, this.consumer, this.options.claimIdleMs, cursor, 'COUNT', BATCH)) as [string, (StreamEntry | null)[]];
      cursor = reply[0];
      const entries = reply[1].filter((e): e is StreamEntry => Array.isArray(e) && Array.isArray(e[1]));
      if (entries.length) this.options.log.info({ entries: entries.length }, 'took over webhook events from an idle dispatcher');
      await this.dispatch(entries);
    } while (cursor !== '0-0' && !this.closed);
  }

  private async dispatch(entries: StreamEntry[]): Promise<void> {
    for (const [id, flat] of entries) {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      const built = deliveryFromOutbox(id, fields);
      if (built.ok) await this.options.queue.enqueue(built.delivery);
      else this.options.log.error({ entry: id, error: built.error }, 'dropping a malformed webhook outbox entry');
      // Acknowledged only after the enqueue succeeded: a crash before this line redelivers.
      await this.options.redis.multi().xack(this.stream, OUTBOX_GROUP, id).xdel(this.stream, id).exec();
    }
  }

  /** Stops reading; an entry being enqueued finishes first. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) {
      await this.loop;
      return;
    }
    this.closed = true;
    this.reader.disconnect();
    await this.loop;
  }
}
