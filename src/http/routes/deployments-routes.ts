import { Router } from 'express';
import { AppError } from '../../errors/app-error.js';
import type { Deployments } from '../../deployments/deployments.js';
import { deployRequestSchema } from '../../jobs/payloads.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import { adapterUnavailable } from '../../store/adapter-index.js';
import type { AdapterStore } from '../../store/adapter-store.js';
import { jsonBody } from '../json-body.js';
import { parseBody } from '../query.js';
import { requireJson } from '../request-context.js';

export interface DeploymentsRoutesDeps {
  adapters: AdapterStore;
  deployments: Deployments;
  registry: ModelRegistry;
  maxBodyBytes: number;
}

/**
 * Deployments of an adapter to the operator's serving engines: create (202, the work is queued
 * and retried), list, remove (unload and unpublish).
 */
export function deploymentsRoutes(deps: DeploymentsRoutesDeps): Router {
  const r = Router();
  const body = jsonBody({ limit: deps.maxBodyBytes, type: () => true });
  const adapter = async (tenant: string, id: string) => {
    const found = await deps.adapters.index.lookup(tenant, id);
    if (found.state !== 'ok') throw adapterUnavailable(id, found);
    return found.entry.record;
  };

  r.post('/v1/adapters/:id/deployments', requireJson(), ...body, async (req, res) => {
    const request = parseBody(deployRequestSchema, req.body);
    const rec = await adapter(req.tenant, String(req.params.id));
    const arch = deps.registry.get(rec.model)?.manifest.base_model.arch;
    const view = await deps.deployments.create(req.tenant, { id: rec.id, format: rec.format, r: rec.r, arch }, request);
    res.status(202).setHeader('Location', `/v1/adapters/${rec.id}/deployments/${encodeURIComponent(view.name)}`).json(view);
  });

  r.get('/v1/adapters/:id/deployments', async (req, res) => {
    const rec = await adapter(req.tenant, req.params.id);
    res.json({ object: 'list', data: await deps.deployments.list(req.tenant, rec.id) });
  });

  r.delete('/v1/adapters/:id/deployments/:name', async (req, res) => {
    const id = req.params.id;
    const view = /^ad_[0-9a-f]{40}$/.test(id) ? await deps.deployments.remove(req.tenant, id, req.params.name) : undefined;
    if (!view) throw new AppError('not_found', `Adapter ${id.slice(0, 64)} has no deployment named "${req.params.name.slice(0, 128)}".`);
    res.status(202).json(view);
  });
  return r;
}
