/**
 * The webhooks queue's producer side. Each BullMQ job is one event for one URL; its id is
 * derived from the event's `webhook-id`, so enqueueing the same outbox entry twice (a
 * dispatcher that died between enqueueing and acknowledging) adds nothing.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WebhookDeliveryJob } from '../jobs/payloads.js';
import { WEBHOOKS_QUEUE } from '../jobs/queue-names.js';
import { MAX_DELIVERY_ATTEMPTS } from './retry-schedule.js';

/** The custom backoff type; the webhook worker's backoffStrategy computes its delays. */
export const WEBHOOK_BACKOFF = 'webhook-schedule';

/**
 * BullMQ job id of a delivery (BullMQ ids must not contain ':').
 *
 * @example
 * deliveryJobId('acme', 'msg_0123…_4'); // 'acme-msg_0123…_4'
 */
export function deliveryJobId(tenant: string, webhookId: string): string {
  return `${tenant}-${webhookId}`;
}

export class WebhookQueue {
  readonly queue: Queue;
  private closed = false;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue(WEBHOOKS_QUEUE, {
      connection,
      prefix,
      defaultJobOptions: {
        attempts: MAX_DELIVERY_ATTEMPTS,
        backoff: { type: WEBHOOK_BACKOFF },
        // Completed jobs are kept an hour: long enough that a re-dispatched outbox entry finds
        // its id taken (dispatchers take over a dead one's entries within WEBHOOK_CLAIM_IDLE_MS).
        removeOnComplete: { age: 3600, count: 100000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 100000 },
      },
    });
  }

  /**
   * Adds one delivery. Idempotent per (tenant, webhook-id).
   *
   * @example
   * await queue.enqueue({ v: 1, tenant, job_id, job_created_ms, event: 'job.succeeded', webhook_id, url, body });
   */
  async enqueue(delivery: WebhookDeliveryJob): Promise<void> {
    await this.queue.add('deliver', delivery, { jobId: deliveryJobId(delivery.tenant, delivery.webhook_id) });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.close();
  }
}
