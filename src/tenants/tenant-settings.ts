/**
 * What the operator set per tenant: the storage quota today. Defaults come from the config; a
 * keys-file line overrides them for its tenant (`acme:<sha256> quota_bytes=…`). API and worker
 * processes build the same table from the same environment, so both enforce the same limits.
 */
import type { Config } from '../config/config.js';
import { loadApiKeys, type ApiKey } from '../auth/api-keys.js';

export interface TenantSettingsOptions {
  /** Bytes a tenant may store when no override names it; undefined = unlimited. */
  defaultQuotaBytes?: number;
  keys?: ApiKey[];
}

/**
 * @example
 * const settings = TenantSettings.fromConfig(config);
 * settings.quotaBytes('acme'); // 0 = unlimited
 */
export class TenantSettings {
  private readonly quotas = new Map<string, number>();
  private readonly defaultQuota: number;

  constructor(options: TenantSettingsOptions = {}) {
    this.defaultQuota = options.defaultQuotaBytes ?? 0;
    for (const key of options.keys ?? []) {
      const q = key.settings?.quotaBytes;
      if (q === undefined) continue;
      const prev = this.quotas.get(key.tenant);
      if (prev !== undefined && prev !== q) throw new Error(`the keys file gives tenant "${key.tenant}" two different quota_bytes (${prev} and ${q})`);
      this.quotas.set(key.tenant, q);
    }
  }

  static fromConfig(config: Pick<Config, 'apiKeys' | 'apiKeysFile' | 'tenantStorageQuotaBytes'>): TenantSettings {
    return new TenantSettings({ defaultQuotaBytes: config.tenantStorageQuotaBytes, keys: loadApiKeys(config.apiKeys, config.apiKeysFile) });
  }

  /** The tenant's storage quota in bytes; 0 = unlimited. */
  quotaBytes(tenant: string): number {
    return this.quotas.get(tenant) ?? this.defaultQuota;
  }
}
