/** The generate queue's producer side and its job options (retries, backoff, trimming). */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { GENERATE_QUEUE } from './queue-names.js';
import type { GenerateJob } from './payloads.js';

export interface GenerateQueueOptions {
  connection: Redis;
  prefix: string;
  attempts: number;
  backoffMs: number;
}

/** BullMQ job id of a computation: derived from the adapter key, plus the computation's nonce. */
export function bullJobId(adapterId: string, computation: string): string {
  return `${adapterId.slice(3, 27)}-${computation.slice(0, 16)}`;
}

export class GenerateQueue {
  readonly queue: Queue;
  private closed = false;

  constructor(private readonly options: GenerateQueueOptions) {
    if (options.attempts < 1) throw new TypeError('attempts must be at least 1');
    this.queue = new Queue(GENERATE_QUEUE, {
      connection: options.connection,
      prefix: options.prefix,
      defaultJobOptions: {
        attempts: options.attempts,
        backoff: { type: 'exponential', delay: options.backoffMs },
        // Our own job records carry what clients read; BullMQ's copies are trimmed at once.
        removeOnComplete: true,
        removeOnFail: { age: 24 * 3600, count: 1000 },
      },
    });
    // Connection errors surface per request (503) and in /readyz; ioredis reconnects by itself.
    this.queue.on('error', () => undefined);
  }

  /** Adds the computation's job. Idempotent: adding an id that exists is a no-op in BullMQ. */
  async enqueue(payload: GenerateJob, opts: { removeOnFail?: boolean } = {}): Promise<void> {
    await this.queue.add('generate', payload, { jobId: bullJobId(payload.adapter_id, payload.computation), ...opts });
  }

  /** Adds several computations in one round trip (the fair dispatcher's moves). Idempotent as enqueue. */
  async enqueueMany(entries: { payload: GenerateJob; opts?: { removeOnFail?: boolean } }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.queue.addBulk(entries.map((e) => ({ name: 'generate', data: e.payload, opts: { jobId: bullJobId(e.payload.adapter_id, e.payload.computation), ...e.opts } })));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.close();
  }
}
