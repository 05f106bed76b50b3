/**
 * What the operator set per tenant: storage quota, scheduling weight, and how many of its
 * computations may run at once. Defaults come from the config; a keys-file line overrides them
 * for its tenant (`acme:<sha256> quota_bytes=… weight=2 max_running=8`). API and worker
 * processes build the same table from the same environment, so both enforce the same limits.
 */
import type { Config } from '../config/config.js';
import { loadApiKeys, type ApiKey, type TenantSettingsLine } from '../auth/api-keys.js';

export interface TenantSettingsOptions {
  /** Bytes a tenant may store when no override names it; undefined = unlimited. */
  defaultQuotaBytes?: number;
  /** Computations a tenant may have in flight; 0 or undefined = no cap. */
  defaultMaxRunning?: number;
  keys?: ApiKey[];
}

type Setting = keyof TenantSettingsLine;
/** How the keys file spells each setting (for messages). */
const FILE_NAME: Record<Setting, string> = { quotaBytes: 'quota_bytes', weight: 'weight', maxRunning: 'max_running' };

/**
 * @example
 * const settings = TenantSettings.fromConfig(config);
 * settings.quotaBytes('acme'); // 0 = unlimited
 */
export class TenantSettings {
  private readonly overrides = new Map<string, TenantSettingsLine>();

  constructor(private readonly options: TenantSettingsOptions = {}) {
    for (const key of options.keys ?? []) {
      const mine = this.overrides.get(key.tenant) ?? {};
      for (const [name, value] of Object.entries(key.settings ?? {}) as [Setting, number][]) {
        const prev = mine[name];
        if (prev !== undefined && prev !== value) throw new Error(`the keys file gives tenant "${key.tenant}" two different ${FILE_NAME[name]} (${prev} and ${value})`);
        mine[name] = value;
      }
      if (Object.keys(mine).length) this.overrides.set(key.tenant, mine);
    }
  }

  static fromConfig(config: Pick<Config, 'apiKeys' | 'apiKeysFile' | 'tenantStorageQuotaBytes' | 'tenantMaxRunning'>): TenantSettings {
    return new TenantSettings({ defaultQuotaBytes: config.tenantStorageQuotaBytes, defaultMaxRunning: config.tenantMaxRunning, keys: loadApiKeys(config.apiKeys, config.apiKeysFile) });
  }

  /** The tenant's storage quota in bytes; 0 = unlimited. */
  quotaBytes(tenant: string): number {
    return this.overrides.get(tenant)?.quotaBytes ?? this.options.defaultQuotaBytes ?? 0;
  }

  /** The tenant's scheduling weight (1 unless the keys file says otherwise). */
  weight(tenant: string): number {
    return this.overrides.get(tenant)?.weight ?? 1;
  }

  /** Computations of the tenant in flight at once; 0 = no cap. */
  maxRunning(tenant: string): number {
    return this.overrides.get(tenant)?.maxRunning ?? this.options.defaultMaxRunning ?? 0;
  }

  /** The running cap of tenants without one of their own; 0 = no cap. */
  get defaultMaxRunning(): number {
    return this.options.defaultMaxRunning ?? 0;
  }

  /** Tenants with a weight or a cap of their own (the dispatcher passes them to its script). */
  schedulingOverrides(): { tenant: string; weight: number; maxRunning: number }[] {
    return [...this.overrides.entries()]
      .filter(([, o]) => o.weight !== undefined || o.maxRunning !== undefined)
      .map(([tenant]) => ({ tenant, weight: this.weight(tenant), maxRunning: this.maxRunning(tenant) }));
  }
}
