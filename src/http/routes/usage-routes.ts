import { Router } from 'express';
import type { AdapterIndex } from '../../store/adapter-index.js';
import type { TenantSettings } from '../../tenants/tenant-settings.js';

/** The tenant's storage: what its adapters take, what pinning holds, and its quota. */
export function usageRoutes(deps: { index: AdapterIndex; tenantSettings: TenantSettings }): Router {
  const r = Router();
  r.get('/v1/usage', async (req, res) => {
    const u = await deps.index.usage(req.tenant);
    const quota = deps.tenantSettings.quotaBytes(req.tenant);
    res.json({
      object: 'usage',
      tenant: req.tenant,
      adapters: u.count,
      stored_bytes: u.bytes,
      pinned_bytes: u.pinnedBytes,
      quota_bytes: quota > 0 ? quota : null,
      available_bytes: quota > 0 ? Math.max(0, quota - u.bytes) : null,
      adapter_ttl_seconds: deps.index.ttlMs / 1000,
    });
  });
  return r;
}
