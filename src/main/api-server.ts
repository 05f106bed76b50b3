/** Boots the API: registry, stores, queue producer, event subscription, HTTP server. */
import http from 'node:http';
import { closeOnce } from './cleanup.js';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { createApp } from '../http/app.js';
import { loadApiKeys } from '../auth/api-keys.js';
import { GenerateQueue } from '../jobs/generate-queue.js';
import { JobEvents } from '../jobs/job-events.js';
import type { ModelRegistry } from '../models/model-registry.js';
import { AdapterStore } from '../store/adapter-store.js';
import { JobStore } from '../store/job-store.js';
import { TenantSettings } from '../tenants/tenant-settings.js';
import { FairScheduler } from '../scheduling/fair-scheduler.js';
import { Deployments } from '../deployments/deployments.js';
import { PreviewPool } from '../preview/preview-pool.js';
import { DeployTargets } from '../deployments/targets.js';
import { TenantSlots } from '../http/tenant-slots.js';
import { adapterStoreOptions, jobStoreOptions } from './store-options.js';
import { RedisKeys } from '../store/redis-keys.js';
import { DeliveryLog } from '../webhooks/delivery-log.js';
import { WebhookSecrets } from '../webhooks/webhook-secrets.js';
import { WebhookUrlGuard } from '../webhooks/webhook-url-guard.js';
import { connectWithin, createApiRedis } from './redis-client.js';
import { Metrics } from '../observability/metrics.js';

export interface ApiServer {
  url: string;
  server: http.Server;
  /** Flips /readyz to 503 (first step of a graceful shutdown). */
  stopAccepting(): void;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|\[::1\])$/;

export async function startApi(config: Readonly<Config>, registry: ModelRegistry, log: Logger, metrics: Metrics = new Metrics()): Promise<ApiServer> {
  const apiKeys = loadApiKeys(config.apiKeys, config.apiKeysFile);
  if (apiKeys.length === 0) {
    if (!LOOPBACK.test(config.host)) {
      throw new Error(`HOST=${config.host} is not a loopback address and no API keys are configured (API_KEYS); refusing to serve openly.`);
    }
    log.warn('no API keys configured: serving without authentication on a loopback address, as tenant "local"');
  }
  const redis = createApiRedis(config.redisUrl);
  // BullMQ's queues get their own connection: see createApiRedis.
  const queueRedis = createApiRedis(config.redisUrl);
  await Promise.all([connectWithin(redis, 5000), connectWithin(queueRedis, 5000)]);
  const keys = new RedisKeys(config.queuePrefix);
  const tenantSettings = TenantSettings.fromConfig(config);
  const jobs = new JobStore(jobStoreOptions(config, redis, keys, tenantSettings));
  const deployments = new Deployments({ redis, queueConnection: queueRedis, keys, targets: DeployTargets.fromFile(config.deployTargetsFile), attempts: config.deployAttempts, backoffMs: config.deployBackoffMs });
  // A removed adapter's deployments are unloaded and unpublished.
  const adapters = new AdapterStore({ ...adapterStoreOptions(config, redis, keys), onRemoved: (tenant, ids) => deployments.removeAll(tenant, ids) });
  const queue = new GenerateQueue({ connection: queueRedis, prefix: config.queuePrefix, attempts: config.jobAttempts, backoffMs: config.jobBackoffMs });
  const events = new JobEvents(redis, keys.events());
  const readiness = { accepting: true };
  const webhooks = {
    webhookGuard: new WebhookUrlGuard({ allowHosts: config.webhookAllowHosts, allowPrivate: config.webhookAllowPrivate }),
    webhookSecrets: new WebhookSecrets(redis, keys),
    deliveryLog: new DeliveryLog(redis, keys, config.jobRetentionSeconds),
    eventsHeartbeatMs: config.eventsHeartbeatMs,
  };
  const previews = new PreviewPool({ modelsDirs: config.modelsDirs, intraOpThreads: 1, maxBatch: 32, maxPending: config.previewMaxPending, timeoutMs: config.previewTimeoutMs });
  const app = createApp({ redis, registry, jobs, adapters, queue, events, apiKeys, maxBodyBytes: config.maxBodyBytes, maxContextTokens: config.maxContextTokens, maxImageBytes: config.maxImageBytes, maxUploadBytes: config.maxUploadBytes, maxImagePixels: config.maxImagePixels, readiness, log: log.child({ component: 'http' }), metrics, adminKey: config.adminKey, corsOrigins: config.corsOrigins, rateLimitRps: config.rateLimitRps, rateLimitPrefix: config.queuePrefix, ...webhooks, tenantSettings, downloadLeaseMs: config.downloadLeaseSeconds * 1000, downloadRedirect: config.downloadRedirect, deployments, scheduler: new FairScheduler({ redis, keys, queue, depth: config.schedulerDepth, settings: tenantSettings }), previews, previewSlots: new TenantSlots(config.maxPreviewsPerTenant, 'previews in progress'), streamSlots: new TenantSlots(config.maxStreamsPerTenant, 'open event streams'), waitSlots: new TenantSlots(config.maxWaitsPerTenant, 'waiting requests (Prefer: wait)') });
  metrics.watchQueue('generate', queue.queue);
  metrics.watchUsage(() => adapters.index.allUsage());
  metrics.watchTenantJobs(() => jobs.tenantJobCounts());
  const server = http.createServer(app);
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10000;
  server.requestTimeout = 120000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  log.info({ url, models: registry.list().map((m) => m.manifest.id) }, 'API listening');
  return {
    url,
    server,
    stopAccepting: () => {
      readiness.accepting = false;
    },
    close: closeOnce(log, () => {
      readiness.accepting = false;
      return [
        ['http', () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeIdleConnections(); setTimeout(() => server.closeAllConnections(), 2000).unref(); })],
        ['events', () => events.close()],
        ['queue', () => queue.close()],
        ['deployments', () => deployments.close()],
        ['previews', () => previews.close()],
        ['redis', () => Promise.all([redis, queueRedis].map((r) => r.quit().catch(() => r.disconnect()))).then(() => undefined)],
      ];
    }),
  };
}
