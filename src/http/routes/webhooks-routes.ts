/** The tenant's webhook signing secret, and the delivery log of a job. */
import { Router } from 'express';
import { AppError } from '../../errors/app-error.js';
import type { JobStore } from '../../store/job-store.js';
import type { DeliveryLog } from '../../webhooks/delivery-log.js';
import type { WebhookSecrets } from '../../webhooks/webhook-secrets.js';

export interface WebhooksRoutesDeps {
  jobs: JobStore;
  webhookSecrets: WebhookSecrets;
  deliveryLog: DeliveryLog;
}

/**
 * @example
 * app.use(webhooksRoutes({ jobs, webhookSecrets, deliveryLog }));
 */
export function webhooksRoutes(deps: WebhooksRoutesDeps): Router {
  const r = Router();
  r.get('/v1/webhook-secret', async (req, res) => {
    // A secret must not sit in caches between the client and us.
    res.setHeader('Cache-Control', 'no-store');
    res.json({ secret: await deps.webhookSecrets.get(req.tenant) });
  });
  r.post('/v1/webhook-secret/rotate', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ secret: await deps.webhookSecrets.rotate(req.tenant) });
  });
  r.get('/v1/jobs/:id/deliveries', async (req, res) => {
    const job = await deps.jobs.get(req.tenant, req.params.id);
    if (!job) throw new AppError('not_found', `No job with id ${req.params.id.slice(0, 64)}.`);
    res.json({ object: 'list', data: await deps.deliveryLog.list(req.tenant, job.id) });
  });
  return r;
}
