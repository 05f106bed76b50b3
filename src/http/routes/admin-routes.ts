/**
 * /metrics (Prometheus text) and, when ADMIN_KEY is set, bull-board at /admin/queues. The admin
 * UI takes the key as a Bearer token or as the password of HTTP Basic auth (browsers prompt).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import type { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { AppError } from '../../errors/app-error.js';
import type { Metrics } from '../../observability/metrics.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

function adminOnly(adminKey: string): RequestHandler {
  const expected = digest(adminKey);
  return (req, res, next) => {
    const header = req.get('authorization') ?? '';
    let given = '';
    if (header.startsWith('Bearer ')) given = header.slice(7);
    else if (header.startsWith('Basic ')) given = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':').slice(1).join(':');
    if (!given || !timingSafeEqual(digest(given), expected)) {
      res.setHeader('WWW-Authenticate', 'Basic realm="hyperadapt admin"');
      throw new AppError('unauthorized', 'The admin UI needs the admin key.');
    }
    next();
  };
}

export function adminRoutes(metrics: Metrics, adminKey: string | undefined, queues: Queue[]): Router {
  const r = Router();
  r.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.contentType);
    res.send(await metrics.text());
  });
  if (adminKey) {
    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath('/admin/queues');
    createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter });
    r.use('/admin/queues', adminOnly(adminKey), serverAdapter.getRouter() as RequestHandler);
  }
  return r;
}
