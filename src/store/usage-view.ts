/** The public `Usage` object: a tenant's adapter storage against its quota. */
import type { AdapterUsage } from './adapter-index.js';

export interface UsageView {
  object: 'usage';
  tenant: string;
  adapters: number;
  stored_bytes: number;
  pinned_bytes: number;
  /** null: unlimited. */
  quota_bytes: number | null;
  available_bytes: number | null;
  adapter_ttl_seconds: number;
}

export function usageView(tenant: string, u: AdapterUsage, quotaBytes: number, ttlMs: number): UsageView {
  return {
    object: 'usage',
    tenant,
    adapters: u.count,
    stored_bytes: u.bytes,
    pinned_bytes: u.pinnedBytes,
    quota_bytes: quotaBytes > 0 ? quotaBytes : null,
    available_bytes: quotaBytes > 0 ? Math.max(0, quotaBytes - u.bytes) : null,
    adapter_ttl_seconds: ttlMs / 1000,
  };
}
