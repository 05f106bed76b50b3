import { Router, type Request, type Response } from 'express';
import { sendImmutableFile } from '../file-response.js';
import { jsonBody } from '../json-body.js';
import { z } from '../../validation/zod.js';
import { AppError } from '../../errors/app-error.js';
import { writeTar } from '../../adapters/archive.js';
import { createAdapterJob, type CreateAdapterDeps } from '../../usecases/create-adapter-job/create-adapter-job.js';
import { adapterView, type AdapterEntry, type AdapterRecord, type AdapterStore } from '../../store/adapter-store.js';
import { adapterUnavailable, type Lookup } from '../../store/adapter-index.js';
import { limitParam, parseBody, parseQuery } from '../query.js';
import type { Metrics } from '../../observability/metrics.js';
import { requireJson } from '../request-context.js';
import { jobRequestOptions, sendJob } from '../job-response.js';
import type { TenantSlots } from '../tenant-slots.js';

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

/** How long a presigned download URL works (DOWNLOAD_REDIRECT=presigned). */
const PRESIGNED_SECONDS = 300;

export const archiveQuery = z.strictObject({
  compression: z.enum(['none', 'gzip']).default('none').describe('`none` (default): a plain tar at file speed; `gzip`: a .tar.gz (LoRA weights shrink ~8%)'),
});

export const updateAdapterSchema = z
  .strictObject({
    pinned: z.boolean().describe('true: the adapter never expires and is never evicted (expires_at: null); false: it expires ADAPTER_TTL_SECONDS after its last use, from now'),
  })
  .openapi('UpdateAdapterRequest');

export interface AdaptersRoutesDeps extends CreateAdapterDeps {
  adapters: AdapterStore;
  metrics: Metrics;
  maxBodyBytes: number;
  /** How long a download holds its adapter against eviction and expiry (renewed while it runs). */
  downloadLeaseMs: number;
  /** Per-tenant bound on requests waiting (Prefer: wait). */
  waitSlots: TenantSlots;
  /** `presigned`: file downloads answer 302 to a short-lived presigned URL (S3 store only). */
  downloadRedirect: 'none' | 'presigned';
}

function found(id: string, lookup: Lookup): AdapterEntry {
  if (lookup.state !== 'ok') throw adapterUnavailable(id, lookup);
  return lookup.entry;
}

export function adaptersRoutes(deps: AdaptersRoutesDeps): Router {
  const r = Router();
  const body = jsonBody({ limit: deps.maxBodyBytes, type: () => true });

  r.post('/v1/adapters', requireJson(), ...body, async (req, res) => {
    const opts = jobRequestOptions(req, res, deps.waitSlots);
    const result = await createAdapterJob(deps, { tenant: req.tenant, body: req.body, idempotencyKey: opts.idempotencyKey, waitSeconds: opts.waitSeconds, signal: opts.signal });
    sendJob(res, result, opts, deps.metrics);
  });

  const index = deps.adapters.index;
  const blobs = deps.adapters.blobs;
  // The location is shown where a user can load from it (S3: LoRAX's adapter_source "s3").
  const view = (entry: AdapterEntry, tenant: string) => adapterView(entry, index.ttlMs, blobs.kind === 's3' ? blobs.location(tenant, entry.record.id) : undefined);

  r.get('/v1/adapters', async (req, res) => {
    const q = parseQuery(req, adaptersListQuery);
    const page = await index.list(req.tenant, { limit: q.limit, cursor: q.cursor, model: q.model });
    res.json({ object: 'list', data: page.data.map((e) => view(e, req.tenant)), has_more: page.nextCursor !== null, next_cursor: page.nextCursor });
  });

  r.get('/v1/adapters/:id', async (req, res) => {
    res.json(view(found(req.params.id, await index.lookup(req.tenant, req.params.id)), req.tenant));
  });

  r.patch('/v1/adapters/:id', requireJson(), ...body, async (req, res) => {
    const update = parseBody(updateAdapterSchema, req.body);
    const id = String(req.params.id);
    res.json(view(found(id, await index.pin(req.tenant, id, update.pinned)), req.tenant));
  });

  r.delete('/v1/adapters/:id', async (req, res) => {
    const removed = await deps.adapters.remove(req.tenant, [req.params.id], 'force', 'deleted');
    if (removed.length === 0) throw adapterUnavailable(req.params.id, await index.lookup(req.tenant, req.params.id) as Exclude<Lookup, { state: 'ok' }>);
    res.status(204).end();
  });

  /**
   * A download is a use, and holds the adapter under a lease (renewed while the response runs,
   * released when it ends) so that eviction and expiry pass it by: it completes whole.
   */
  const leased = async (req: Request, res: Response): Promise<AdapterRecord> => {
    const id = String(req.params.id);
    const entry = found(id, await index.lookup(req.tenant, id, { touch: true, leaseMs: deps.downloadLeaseMs }));
    const { tenant } = req;
    const renew = setInterval(() => void index.lease(tenant, entry.record.id, deps.downloadLeaseMs).catch(() => undefined), Math.max(1000, deps.downloadLeaseMs / 3));
    renew.unref();
    res.once('close', () => {
      clearInterval(renew);
      void index.lease(tenant, entry.record.id, 0).catch(() => undefined);
    });
    return entry.record;
  };

  /** Never serves bytes that differ from the record: a damaged adapter is removed instead. */
  const verified = async (tenant: string, rec: AdapterRecord, files: AdapterRecord['files']) => {
    for (const f of files) {
      if (!(await deps.adapters.verifyFile(tenant, rec.id, f))) {
        await deps.adapters.remove(tenant, [rec.id], 'force', 'damaged');
        throw new AppError('unavailable', `Adapter ${rec.id} failed its integrity check and was removed; send the request again to regenerate it.`, { retryAfter: 1 });
      }
    }
  };

  r.get('/v1/adapters/:id/files/:name', async (req, res) => {
    const rec = await leased(req, res);
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
    if (deps.downloadRedirect === 'presigned' && blobs.presignedUrl) {
      // Trade-off: the bytes go straight from the store (no API bandwidth), but the URL works for
      // anyone holding it until it expires, and the lease ends with this answer.
      res.setHeader('Cache-Control', 'private, no-store');
      res.redirect(302, await blobs.presignedUrl(req.tenant, rec.id, file.name, PRESIGNED_SECONDS));
      return;
    }
    await sendImmutableFile(req, res, (range) => blobs.open(req.tenant, rec.id, file.name, range), file.bytes, `"${file.sha256}"`);
  });

  r.get('/v1/adapters/:id/archive', async (req, res) => {
    const q = parseQuery(req, archiveQuery);
    const rec = await leased(req, res);
    await verified(req.tenant, rec, rec.files);
    const entries = rec.files.map((f) => ({ name: f.name, bytes: f.bytes, open: () => blobs.open(req.tenant, rec.id, f.name) }));
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
