/**
 * What happened to each webhook delivery: one entry per attempt, per job, served by
 * `GET /v1/jobs/{id}/deliveries`; and the URLs that answered 410 Gone. Entries live as long as
 * job records do (JOB_RETENTION_SECONDS), under the tenant's keys.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../store/redis-keys.js';

export interface DeliveryAttempt {
  id: string;
  event: string;
  /** The Standard Webhooks `webhook-id`, the same on every attempt of one event. */
  webhook_id: string;
  url: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  at: string;
  next_attempt_at: string | null;
}

/** Attempts kept per job; ten per event at most, so this bounds chatty progress subscriptions. */
const MAX_ENTRIES = 500;

export class DeliveryLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly retentionSeconds: number,
  ) {}

  /**
   * Records one attempt.
   *
   * @example
   * await log.append('acme', jobId, { event: 'job.succeeded', webhook_id, url, attempt: 1, status_code: 200, error: null, at, next_attempt_at: null });
   */
  async append(tenant: string, jobId: string, entry: Omit<DeliveryAttempt, 'id'>): Promise<DeliveryAttempt> {
    const full: DeliveryAttempt = { id: `whd_${randomBytes(12).toString('hex')}`, ...entry };
    const key = this.keys.deliveries(tenant, jobId);
    await this.redis
      .multi()
      .rpush(key, JSON.stringify(full))
      .ltrim(key, -MAX_ENTRIES, -1)
      .expire(key, this.retentionSeconds)
      .exec();
    return full;
  }

  /**
   * Every recorded attempt for a job, oldest first.
   *
   * @example
   * const attempts = await log.list('acme', jobId);
   */
  async list(tenant: string, jobId: string): Promise<DeliveryAttempt[]> {
    const rows = await this.redis.lrange(this.keys.deliveries(tenant, jobId), 0, -1);
    return rows.map((r) => JSON.parse(r) as DeliveryAttempt);
  }

  /**
   * Remembers that `url` answered 410 Gone: events of jobs created before then are no longer
   * sent there. A job created later that names the URL again is a fresh subscription.
   *
   * @example
   * await log.markGone('acme', 'https://example.com/hook');
   */
  async markGone(tenant: string, url: string, atMs = Date.now()): Promise<void> {
    const key = this.keys.webhookGone(tenant);
    await this.redis.multi().hset(key, url, String(atMs)).expire(key, this.retentionSeconds).exec();
  }

  /** When `url` answered 410 Gone (epoch ms), if it did. */
  async goneSince(tenant: string, url: string): Promise<number | undefined> {
    const v = await this.redis.hget(this.keys.webhookGone(tenant), url);
    return v ? Number(v) : undefined;
  }
}
