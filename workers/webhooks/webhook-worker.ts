/**
 * The webhook worker: the outbox dispatcher plus a BullMQ Worker on the webhooks queue, which
 * sends each delivery signed per Standard Webhooks 1.0. Its own queue and process, so a slow or
 * dead receiver never holds a generation slot. Every attempt is written to the delivery log;
 * failures are retried on the Standard Webhooks schedule (retry-schedule.ts) through BullMQ's
 * attempts and a custom backoff that returns the delay the processor already chose and logged.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { closeOnce } from '../../src/main/cleanup.js';
import { Webhook } from 'standardwebhooks';
import type { Config } from '../../src/config/config.js';
import type { Logger } from '../../src/logging/logger.js';
import type { Metrics } from '../../src/observability/metrics.js';
import { webhookDeliveryJobSchema } from '../../src/jobs/payloads.js';
import { WEBHOOKS_QUEUE } from '../../src/jobs/queue-names.js';
import { createWorkerRedis } from '../../src/main/redis-client.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { DeliveryLog, type DeliveryAttempt } from '../../src/webhooks/delivery-log.js';
import { postWebhook } from '../../src/webhooks/http-delivery.js';
import { OutboxDispatcher } from '../../src/webhooks/outbox-dispatcher.js';
import { parseRetryAfter, retryDelayMs } from '../../src/webhooks/retry-schedule.js';
import { WebhookQueue } from '../../src/webhooks/webhook-queue.js';
import { WebhookSecrets } from '../../src/webhooks/webhook-secrets.js';
import { WebhookUrlGuard, type LookupAll } from '../../src/webhooks/webhook-url-guard.js';

export interface WebhookWorker {
  worker: Worker;
  dispatcher: OutboxDispatcher;
  close(): Promise<void>;
}

export interface WebhookWorkerOptions {
  /** DNS resolution for the delivery-time SSRF check; tests inject one to simulate rebinding. */
  lookup?: LookupAll;
  /** Counts attempts by outcome (hyperadapt_webhook_deliveries_total) when given. */
  metrics?: Metrics;
}

interface Deps {
  guard: WebhookUrlGuard;
  secrets: WebhookSecrets;
  deliveries: DeliveryLog;
  timeoutMs: number;
  retryScale: number;
  log: Logger;
  metrics?: Metrics;
}

const USER_AGENT = 'hyperadapt-webhooks/1';

type Outcome = Pick<DeliveryAttempt, 'status_code' | 'error' | 'next_attempt_at'>;

/** Carries the chosen delay to the backoff strategy, so the log and the schedule agree. */
function retryLater(message: string, delayMs: number): Error {
  return Object.assign(new Error(message), { retryDelayMs: delayMs });
}

/**
 * One delivery attempt: skip a URL that answered 410, re-check the target, sign, POST, log.
 * Throws to make BullMQ retry (with the delay it logged) or, when retrying is pointless, an
 * UnrecoverableError.
 *
 * @example
 * new Worker(WEBHOOKS_QUEUE, (job) => processDelivery(deps, job), { connection, settings: { backoffStrategy } });
 */
export async function processDelivery(deps: Deps, job: Job): Promise<{ outcome: 'delivered' | 'gone' }> {
  const parsed = webhookDeliveryJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`invalid webhook delivery payload: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
  const d = parsed.data;
  const attempt = job.attemptsMade + 1;
  const at = new Date();
  const log = deps.log.child({ tenant: d.tenant, jobId: d.job_id, webhookId: d.webhook_id, attempt });
  const record = (o: Outcome, outcome: string) => {
    deps.metrics?.webhookDeliveries.inc({ outcome });
    return deps.deliveries.append(d.tenant, d.job_id, { event: d.event, webhook_id: d.webhook_id, url: d.url, attempt, at: at.toISOString(), ...o });
  };
  const failed = async (statusCode: number | null, error: string, retryAfter?: string): Promise<never> => {
    const delay = retryDelayMs(attempt, deps.retryScale, parseRetryAfter(retryAfter));
    if (delay === undefined) {
      await record({ status_code: statusCode, error, next_attempt_at: null }, 'failed');
      log.warn({ error }, 'webhook delivery failed for the last time');
      throw new UnrecoverableError(`gave up after ${attempt} attempts: ${error}`);
    }
    await record({ status_code: statusCode, error, next_attempt_at: new Date(Date.now() + delay).toISOString() }, 'retry');
    log.info({ error, delayMs: delay }, 'webhook delivery failed; will retry');
    throw retryLater(error, delay);
  };

  const gone = await deps.deliveries.goneSince(d.tenant, d.url);
  if (gone !== undefined && gone >= d.job_created_ms) {
    await record({ status_code: null, error: 'not sent: this URL answered 410 Gone to an earlier delivery', next_attempt_at: null }, 'skipped');
    return { outcome: 'gone' };
  }
  // Re-checked now, not trusted from request time: DNS may point somewhere else by now.
  const checked = await deps.guard.check(d.url);
  if (!checked.ok) {
    if (checked.transient) return failed(null, checked.reason);
    await record({ status_code: null, error: `refused: the URL ${checked.reason}`, next_attempt_at: null }, 'refused');
    log.warn({ reason: checked.reason }, 'webhook target refused at delivery time');
    throw new UnrecoverableError(`refused: ${checked.reason}`);
  }
  // Within 24 h of a rotation both secrets sign, space-separated, as Standard Webhooks allows.
  const secrets = await deps.secrets.signingSecrets(d.tenant, at.getTime());
  const signature = secrets.map((s) => new Webhook(s).sign(d.webhook_id, at, d.body)).join(' ');
  const res = await postWebhook(
    checked.target,
    d.body,
    { 'webhook-id': d.webhook_id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature, 'user-agent': USER_AGENT },
    deps.timeoutMs,
  );
  if (res.error === null) {
    await record({ status_code: res.statusCode, error: null, next_attempt_at: null }, 'delivered');
    log.debug({ status: res.statusCode }, 'webhook delivered');
    return { outcome: 'delivered' };
  }
  if (res.statusCode === 410) {
    await deps.deliveries.markGone(d.tenant, d.url);
    await record({ status_code: 410, error: 'HTTP 410 Gone: no further deliveries to this URL', next_attempt_at: null }, 'gone');
    log.info('webhook receiver answered 410 Gone; stopped delivering to it');
    throw new UnrecoverableError('410 Gone');
  }
  return failed(res.statusCode, res.error, res.retryAfter);
}

/**
 * Starts the dispatcher and the delivery worker on the config's Redis.
 *
 * @example
 * const w = await startWebhookWorker(config, log);
 * await w.close();
 */
export async function startWebhookWorker(config: Readonly<Config>, log: Logger, options: WebhookWorkerOptions = {}): Promise<WebhookWorker> {
  const redis = createWorkerRedis(config.redisUrl);
  const keys = new RedisKeys(config.queuePrefix);
  const queue = new WebhookQueue(redis, config.queuePrefix);
  const deps: Deps = {
    guard: new WebhookUrlGuard({ allowHosts: config.webhookAllowHosts, allowPrivate: config.webhookAllowPrivate, lookup: options.lookup }),
    secrets: new WebhookSecrets(redis, keys),
    deliveries: new DeliveryLog(redis, keys, config.jobRetentionSeconds),
    timeoutMs: config.webhookTimeoutMs,
    retryScale: config.webhookRetryScale,
    log,
    metrics: options.metrics,
  };
  const dispatcher = new OutboxDispatcher({ redis, keys, queue, claimIdleMs: config.webhookClaimIdleMs, log });
  const worker = new Worker(WEBHOOKS_QUEUE, (job) => processDelivery(deps, job), {
    connection: redis,
    prefix: config.queuePrefix,
    concurrency: config.webhookConcurrency,
    // A delivery interrupted by a crash is simply sent again (receivers deduplicate by id).
    maxStalledCount: 3,
    settings: { backoffStrategy: (_attempts, _type, err) => (err as { retryDelayMs?: number } | undefined)?.retryDelayMs ?? 1000 },
  });
  worker.on('error', (err) => log.warn({ err }, 'webhook worker error'));
  await worker.waitUntilReady();
  dispatcher.start();
  return {
    worker,
    dispatcher,
    close: closeOnce(log, () => [
    ['dispatcher', () => dispatcher.close()],
    // Waits for deliveries in flight (each bounded by WEBHOOK_TIMEOUT_MS).
    ['worker', () => worker.close()],
    ['queue', () => queue.close()],
    ['redis', () => redis.quit().catch(() => redis.disconnect())],
    ]),
  };
}
