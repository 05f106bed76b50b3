/** The answer every "create a job" endpoint gives, and the request headers they all read. */
import type { Request, Response } from 'express';
import type { Metrics } from '../observability/metrics.js';
import type { SubmitResult } from '../usecases/submit-generation/submit-generation.js';
import { parseIdempotencyKey, parsePreferWait } from './request-context.js';
import type { TenantSlots } from './tenant-slots.js';

export interface JobRequestOptions {
  waitSeconds: number | undefined;
  idempotencyKey: string | undefined;
  /**
   * Aborted when the client goes away, so a Prefer: wait stops waiting for nobody. Only made
   * for requests that wait: an abort builds a DOMException, too dear for every cache hit.
   */
  signal: AbortSignal | undefined;
}

/** Reads the headers; a request that waits takes one of the tenant's wait slots until it ends. */
export function jobRequestOptions(req: Request, res: Response, waits?: TenantSlots): JobRequestOptions {
  const waitSeconds = parsePreferWait(req.get('prefer'));
  const idempotencyKey = parseIdempotencyKey(req.get('idempotency-key'));
  let signal: AbortSignal | undefined;
  if (waitSeconds) {
    const release = waits?.take(req.tenant);
    const abort = new AbortController();
    res.on('close', () => {
      release?.();
      abort.abort();
    });
    signal = abort.signal;
  }
  return { waitSeconds, idempotencyKey, signal };
}

/** 200 (ended) or 202 (accepted) with the Job, `Location`, and `Preference-Applied`. */
export function sendJob(res: Response, result: SubmitResult, opts: JobRequestOptions, metrics: Metrics): void {
  const { job, status, outcome } = result;
  res.locals.jobId = job.id;
  if (outcome !== 'existing') metrics.cache.inc({ model: job.model, result: outcome === 'cached' ? 'hit' : 'miss' });
  metrics.jobsCreated.inc({ model: job.model, outcome });
  if (opts.waitSeconds) res.setHeader('Preference-Applied', `wait=${opts.waitSeconds}`);
  res.setHeader('Location', job.urls.self);
  res.status(status).json(job);
}
