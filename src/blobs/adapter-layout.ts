/**
 * Where an adapter's files live under DATA_DIR: `tenants/<tenant>/adapters/<adapter id>/<file>`.
 * Shared by the writer (inference threads) and the readers (API, eval), and validated here so
 * no id, tenant or file name can walk out of its directory.
 */
import path from 'node:path';

export const ADAPTER_ID_PATTERN = /^ad_[0-9a-f]{40}$/;
export const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const FILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * @example
 * new AdapterLayout('/srv/data').file('local', 'ad_…', 'adapter_config.json');
 */
export class AdapterLayout {
  constructor(readonly dataDir: string) {
    if (!path.isAbsolute(dataDir)) throw new TypeError('dataDir must be an absolute path');
  }

  /** The directory of one tenant's adapters. */
  tenantDir(tenant: string): string {
    if (!TENANT_PATTERN.test(tenant)) throw new TypeError('invalid tenant');
    return path.join(this.dataDir, 'tenants', tenant, 'adapters');
  }

  /** The directory of one adapter. */
  adapterDir(tenant: string, adapterId: string): string {
    if (!ADAPTER_ID_PATTERN.test(adapterId)) throw new TypeError('invalid adapter id');
    return path.join(this.tenantDir(tenant), adapterId);
  }

  file(tenant: string, adapterId: string, name: string): string {
    if (!FILE_NAME_PATTERN.test(name)) throw new TypeError('invalid file name');
    return path.join(this.adapterDir(tenant, adapterId), name);
  }

  /** Scratch space (deletes rename into it before removing). */
  tmpDir(): string {
    return path.join(this.dataDir, 'tmp');
  }
}
