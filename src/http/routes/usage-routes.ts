import { Router } from 'express';
import type { AdapterIndex } from '../../store/adapter-index.js';
import { usageView } from '../../store/usage-view.js';
import type { TenantSettings } from '../../tenants/tenant-settings.js';

/** The tenant's storage: what its adapters take, what pinning holds, and its quota. */
export function usageRoutes(deps: { index: AdapterIndex; tenantSettings: TenantSettings }): Router {
  const r = Router();
  r.get('/v1/usage', async (req, res) => {
    res.json(usageView(req.tenant, await deps.index.usage(req.tenant), deps.tenantSettings.quotaBytes(req.tenant), deps.index.ttlMs));
  });
  return r;
}
