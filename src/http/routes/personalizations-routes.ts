/** POST /v1/personalizations: multipart/form-data image parts, or JSON with base64 images. */
import { Router } from 'express';
import { jsonBody } from '../json-body.js';
import { AppError } from '../../errors/app-error.js';
import type { Metrics } from '../../observability/metrics.js';
import { sha256Hex } from '../../store/canonical-hash.js';
import {
  createPersonalizationJob,
  fromJson,
  fromMultipart,
  type PersonalizationDeps,
} from '../../usecases/create-personalization-job/create-personalization-job.js';
import { jobRequestOptions, sendJob } from '../job-response.js';
import type { TenantSlots } from '../tenant-slots.js';
import { parseMultipart } from '../multipart.js';

export interface PersonalizationsRoutesDeps extends PersonalizationDeps {
  /** Per-tenant bound on requests waiting (Prefer: wait). */
  waitSlots: TenantSlots;
  metrics: Metrics;
  maxImageBytes: number;
  maxUploadBytes: number;
}

export function personalizationsRoutes(deps: PersonalizationsRoutesDeps): Router {
  const r = Router();
  const maxImages = Math.max(1, ...deps.registry.list().map((m) => (m.manifest.condition.kind === 'images' ? m.manifest.condition.max_images : 0)));
  // base64 is 4/3 of the bytes; a little room for the other fields.
  const body = jsonBody({ limit: Math.ceil((deps.maxUploadBytes * 4) / 3) + 65536, type: 'application/json' });
  r.post('/v1/personalizations', ...body, async (req, res) => {
    const opts = jobRequestOptions(req, res, deps.waitSlots);
    let request;
    let idemBody: unknown;
    if (req.is('multipart/form-data')) {
      const { fields, files } = await parseMultipart(req, {
        maxFileBytes: deps.maxImageBytes,
        maxTotalBytes: deps.maxUploadBytes,
        maxFiles: maxImages,
        maxFieldBytes: 16 * 1024,
        maxFields: 16,
        fileField: 'images',
      });
      request = fromMultipart(fields, files.map((f) => f.data));
      idemBody = { fields, images: files.map((f) => sha256Hex(f.data)) };
    } else if (req.is('application/json')) {
      request = fromJson(req.body);
      idemBody = req.body;
    } else {
      throw new AppError('unsupported_media_type', 'Send multipart/form-data (image parts named "images") or application/json (base64 images).');
    }
    const result = await createPersonalizationJob(deps, {
      tenant: req.tenant,
      request,
      idempotency: opts.idempotencyKey ? { key: opts.idempotencyKey, body: idemBody } : undefined,
      waitSeconds: opts.waitSeconds,
      signal: opts.signal,
    });
    sendJob(res, result, opts, deps.metrics);
  });
  return r;
}
