/** The Express application: middleware order, routes, and the one error handler. */
import express, { type Express } from 'express';
import swaggerUi from 'swagger-ui-express';
import { buildSpec } from './openapi/build-spec.js';
import type { Redis } from 'ioredis';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logging/logger.js';
import type { ModelRegistry } from '../models/model-registry.js';
import type { AdapterStore } from '../store/adapter-store.js';
import type { JobStore } from '../store/job-store.js';
import type { GenerateQueue } from '../jobs/generate-queue.js';
import type { JobEvents } from '../jobs/job-events.js';
import { errorMiddleware } from './error-middleware.js';
import { playgroundRoutes } from '../playground/playground-routes.js';
import { corsFor, rateLimit, securityHeaders } from './security.js';
import { httpMetrics, requestLogging } from './observability.js';
import { adminRoutes } from './routes/admin-routes.js';
import type { Metrics } from '../observability/metrics.js';
import { authenticate, requestId, type ApiKey } from './request-context.js';
import { adaptersRoutes } from './routes/adapters-routes.js';
import { healthRoutes, type Readiness } from './routes/health-routes.js';
import { jobsRoutes } from './routes/jobs-routes.js';
import { eventsRoutes } from './routes/events-routes.js';
import { webhooksRoutes } from './routes/webhooks-routes.js';
import type { DeliveryLog } from '../webhooks/delivery-log.js';
import type { WebhookSecrets } from '../webhooks/webhook-secrets.js';
import type { WebhookUrlGuard } from '../webhooks/webhook-url-guard.js';
import { modelsRoutes } from './routes/models-routes.js';
import { personalizationsRoutes } from './routes/personalizations-routes.js';
import { usageRoutes } from './routes/usage-routes.js';
import type { TenantSettings } from '../tenants/tenant-settings.js';
import type { FairScheduler } from '../scheduling/fair-scheduler.js';
import type { Deployments } from '../deployments/deployments.js';
import { deploymentsRoutes } from './routes/deployments-routes.js';
import { previewRoutes } from './routes/preview-routes.js';
import type { PreviewPool } from '../preview/preview-pool.js';
import type { TenantSlots } from './tenant-slots.js';

export interface AppDeps {
  redis: Redis;
  registry: ModelRegistry;
  jobs: JobStore;
  adapters: AdapterStore;
  queue: GenerateQueue;
  events: JobEvents;
  apiKeys: ApiKey[];
  maxBodyBytes: number;
  maxImageBytes: number;
  maxUploadBytes: number;
  maxImagePixels: number;
  readiness: Readiness;
  log: Logger;
  metrics: Metrics;
  adminKey: string | undefined;
  corsOrigins: string[];
  rateLimitRps: number;
  rateLimitPrefix: string;
  webhookGuard: WebhookUrlGuard;
  webhookSecrets: WebhookSecrets;
  deliveryLog: DeliveryLog;
  eventsHeartbeatMs: number;
  tenantSettings: TenantSettings;
  downloadLeaseMs: number;
  downloadRedirect: 'none' | 'presigned';
  scheduler: FairScheduler;
  deployments: Deployments;
  /** Per-tenant bounds in this process: open event streams, waiting requests. */
  streamSlots: TenantSlots;
  waitSlots: TenantSlots;
  previews: PreviewPool;
  previewSlots: TenantSlots;
  /** MAX_CONTEXT_TOKENS: caps a chunked model's context (default: the model's own limit). */
  maxContextTokens?: number;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestId());
  app.use(securityHeaders());
  app.use(corsFor(deps.corsOrigins));
  app.use(requestLogging(deps.log));
  app.use(httpMetrics(deps.metrics));
  app.use(healthRoutes(deps.redis, deps.readiness, () => deps.registry.list().length));
  // The contract, generated from the same zod schemas that validate requests.
  const spec = buildSpec();
  app.get('/openapi.json', (_req, res) => {
    res.json(spec);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(spec, { customSiteTitle: 'hyperadapt API' }));
  app.use(adminRoutes(deps.metrics, deps.adminKey, [deps.queue.queue]));
  app.use(playgroundRoutes());
  app.use('/v1', authenticate(deps.apiKeys), rateLimit(deps.redis, deps.rateLimitPrefix, deps.rateLimitRps));
  app.use(modelsRoutes(deps.registry, deps.maxContextTokens));
  app.use(jobsRoutes(deps.jobs));
  app.use(eventsRoutes({ jobs: deps.jobs, events: deps.events, heartbeatMs: deps.eventsHeartbeatMs, streamSlots: deps.streamSlots }));
  app.use(webhooksRoutes(deps));
  app.use(deploymentsRoutes(deps));
  app.use(previewRoutes(deps));
  app.use(adaptersRoutes({ ...deps }));
  app.use(personalizationsRoutes(deps));
  app.use(usageRoutes({ index: deps.adapters.index, tenantSettings: deps.tenantSettings }));
  app.use(() => {
    throw new AppError('not_found', 'No such endpoint.');
  });
  app.use(errorMiddleware(deps.log, deps.maxBodyBytes));
  return app;
}
