import { Router } from 'express';
import { sendImmutableFile } from '../file-response.js';
import { jsonBody } from '../json-body.js';
import { z } from '../../validation/zod.js';
import { AppError } from '../../errors/app-error.js';
import { writeTar } from '../../adapters/archive.js';
import { createAdapterJob, type CreateAdapterDeps } from '../../usecases/create-adapter-job/create-adapter-job.js';
import { adapterView, type AdapterRecord, type AdapterStore } from '../../store/adapter-store.js';
import { limitParam, parseQuery } from '../query.js';
import type { Metrics } from '../../observability/metrics.js';
import { requireJson } from '../request-context.js';
import { jobRequestOptions, sendJob } from '../job-response.js';

export const adaptersListQuery = z.strictObject({
  model: z.string().max(128).optional(),
  limit: limitParam,
  cursor: z.string().max(256).optional(),
});

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

export const archiveQuery = z.strictObject({
  compression: z.enum(['none', 'gzip']).default('none').describe('`none` (default): a plain tar at file speed; `gzip`: a .tar.gz (LoRA weights shrink ~8%)'),
});

export interface AdaptersRoutesDeps extends CreateAdapterDeps {
  adapters: AdapterStore;
  metrics: Metrics;
  maxBodyBytes: number;
}

function notFound(id: string): AppError {
  return new AppError('not_found', `No adapter with id ${id.slice(0, 64)}.`);
}

export function adaptersRoutes(deps: AdaptersRoutesDeps): Router {
  const r = Router();
  const body = jsonBody({ limit: deps.maxBodyBytes, type: () => true });

  r.post('/v1/adapters', requireJson(), ...body, async (req, res) => {
    const opts = jobRequestOptions(req, res);
    const result = await createAdapterJob(deps, { tenant: req.tenant, body: req.body, idempotencyKey: opts.idempotencyKey, waitSeconds: opts.waitSeconds, signal: opts.signal });
    sendJob(res, result, opts, deps.metrics);
  });

  r.get('/v1/adapters', async (req, res) => {
    const q = parseQuery(req, adaptersListQuery);
    const page = await deps.adapters.list(req.tenant, { limit: q.limit, cursor: q.cursor, model: q.model });
    res.json({ object: 'list', data: page.data.map(adapterView), has_more: page.nextCursor !== null, next_cursor: page.nextCursor });
  });

  const load = async (tenant: string, id: string): Promise<AdapterRecord> => {
    const rec = await deps.adapters.get(tenant, id);
    if (!rec) throw notFound(id);
    return rec;
  };

  r.get('/v1/adapters/:id', async (req, res) => {
    res.json(adapterView(await load(req.tenant, req.params.id)));
  });

  r.delete('/v1/adapters/:id', async (req, res) => {
    if (!(await deps.adapters.delete(req.tenant, req.params.id))) throw notFound(req.params.id);
    res.status(204).end();
  });

  /** Never serves bytes that differ from the record: a damaged adapter is removed instead. */
  const verified = async (tenant: string, rec: AdapterRecord, files: AdapterRecord['files']) => {
    for (const f of files) {
      if (!(await deps.adapters.verifyFile(tenant, rec.id, f))) {
        await deps.adapters.delete(tenant, rec.id);
        throw new AppError('unavailable', `Adapter ${rec.id} failed its integrity check and was removed; send the request again to regenerate it.`, { retryAfter: 1 });
      }
    }
  };

  r.get('/v1/adapters/:id/files/:name', async (req, res) => {
    const rec = await load(req.tenant, req.params.id);
    const file = rec.files.find((f) => f.name === req.params.name);
    if (!file) throw new AppError('not_found', `Adapter ${rec.id} has no file named "${req.params.name.slice(0, 128)}".`);
    await verified(req.tenant, rec, [file]);
    const ext = file.name.slice(file.name.lastIndexOf('.'));
    res.setHeader('ETag', `"${file.sha256}"`);
    // Content-addressed: the bytes behind this URL never change.
    res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
    res.setHeader('Content-Type', CONTENT_TYPES[ext] ?? 'application/octet-stream');
    // Conditional GET against the content address (also when the request says
    // `Cache-Control: no-cache`, as fetch() does for conditional requests).
    if (etagMatches(req.get('if-none-match'), file.sha256)) {
      res.status(304).end();
      return;
    }
    await sendImmutableFile(req, res, deps.adapters.filePath(req.tenant, rec.id, file.name), file.bytes, `"${file.sha256}"`);
  });

  r.get('/v1/adapters/:id/archive', async (req, res) => {
    const q = parseQuery(req, archiveQuery);
    const rec = await load(req.tenant, req.params.id);
    await verified(req.tenant, rec, rec.files);
    const entries = rec.files.map((f) => ({ name: f.name, bytes: f.bytes, path: deps.adapters.filePath(req.tenant, rec.id, f.name) }));
    const gzip = q.compression === 'gzip';
    res.setHeader('Content-Type', gzip ? 'application/gzip' : 'application/x-tar');
    res.setHeader('Content-Disposition', `attachment; filename="${rec.id}.${gzip ? 'tar.gz' : 'tar'}"`);
    res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
    await writeTar(rec.id, entries, new Date(rec.created_at), res, { gzip });
  });
  return r;
}

/** RFC 9110 If-None-Match: `*`, or a list of (weak or strong) entity tags. */
export function etagMatches(header: string | undefined, sha256: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === `"${sha256}"`);
}
