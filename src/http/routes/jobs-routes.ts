import { Router } from 'express';
import { z } from '../../validation/zod.js';
import { AppError } from '../../errors/app-error.js';
import type { JobStore } from '../../store/job-store.js';
import { JOB_STATUSES } from '../../store/job-view.js';
import { limitParam, parseQuery } from '../query.js';

export const jobsListQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: limitParam,
  cursor: z.string().max(256).optional(),
});

export function jobsRoutes(jobs: JobStore): Router {
  const r = Router();
  r.get('/v1/jobs', async (req, res) => {
    const q = parseQuery(req, jobsListQuery);
    const page = await jobs.list(req.tenant, { limit: q.limit, cursor: q.cursor, status: q.status });
    res.json({ object: 'list', data: page.data, has_more: page.nextCursor !== null, next_cursor: page.nextCursor });
  });
  r.get('/v1/jobs/:id', async (req, res) => {
    const job = await jobs.get(req.tenant, req.params.id);
    if (!job) throw new AppError('not_found', `No job with id ${req.params.id.slice(0, 64)}.`);
    res.json(job);
  });
  r.post('/v1/jobs/:id/cancel', async (req, res) => {
    res.json(await jobs.cancel(req.tenant, req.params.id.slice(0, 64)));
  });
  return r;
}
