/**
 * API keys: from `API_KEYS` (`tenant:key,…`, for development) and from a keys file of SHA-256
 * hashes (`API_KEYS_FILE`, one `tenant:<sha256 hex>` per line, `#` comments). The server only
 * ever holds hashes; `npm run keys -- create --tenant NAME` prints a new key once.
 *
 * A line may carry the tenant's settings after the hash, as `name=value` words:
 * `acme:<sha256 hex> quota_bytes=10737418240 weight=2 max_running=8`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Per-tenant settings a keys-file line may carry (see TENANT_SETTING_PARSERS). */
export interface TenantSettingsLine {
  /** Storage quota in bytes (overrides TENANT_STORAGE_QUOTA_BYTES). */
  quotaBytes?: number;
  /** Share of the workers under backlog, relative to other tenants (default 1). */
  weight?: number;
  /** Computations of this tenant in flight at once across all workers (overrides TENANT_MAX_RUNNING). */
  maxRunning?: number;
}

export interface ApiKey {
  tenant: string;
  hash: Buffer;
  settings?: TenantSettingsLine;
}

const TENANT_SETTING_PARSERS: Record<string, (value: string, into: TenantSettingsLine) => string | undefined> = {
  quota_bytes: (v, into) => {
    if (!/^\d{1,16}$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) return 'quota_bytes must be a whole number of bytes ≥ 1';
    into.quotaBytes = Number(v);
    return undefined;
  },
  weight: (v, into) => {
    if (!/^\d{1,3}$/.test(v) || Number(v) < 1 || Number(v) > 100) return 'weight must be a whole number from 1 to 100';
    into.weight = Number(v);
    return undefined;
  },
  max_running: (v, into) => {
    if (!/^\d{1,7}$/.test(v) || Number(v) < 1) return 'max_running must be a whole number ≥ 1';
    into.maxRunning = Number(v);
    return undefined;
  },
};

export const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** Parses `API_KEYS` (`tenant:key,tenant:key`) into hashed keys. */
export function parseApiKeys(spec: string): ApiKey[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf(':');
      if (i <= 0 || i === pair.length - 1) throw new Error('API_KEYS: each entry must be tenant:key');
      const tenant = pair.slice(0, i);
      if (!TENANT_PATTERN.test(tenant)) throw new Error(`API_KEYS: tenant "${tenant}" must be 1-64 characters of A-Z a-z 0-9 _ -`);
      return { tenant, hash: hashKey(pair.slice(i + 1)) };
    });
}

/** Reads a keys file; a malformed line is a start-up error naming the file and the line. */
export function readKeysFile(file: string): ApiKey[] {
  const keys: ApiKey[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^([A-Za-z0-9_-]{1,64}):([0-9a-f]{64})((?:\s+[a-z_]+=\S+)*)$/.exec(line);
    if (!m) throw new Error(`${file}:${n + 1}: expected "tenant:<sha256 hex of the key> [name=value …]"`);
    const settings: TenantSettingsLine = {};
    for (const word of m[3]!.trim().split(/\s+/).filter(Boolean)) {
      const [name, value] = [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)];
      const parse = TENANT_SETTING_PARSERS[name];
      if (!parse) throw new Error(`${file}:${n + 1}: unknown setting "${name}" (known: ${Object.keys(TENANT_SETTING_PARSERS).join(', ')})`);
      const problem = parse(value, settings);
      if (problem) throw new Error(`${file}:${n + 1}: ${problem}`);
    }
    keys.push({ tenant: m[1]!, hash: Buffer.from(m[2]!, 'hex'), ...(Object.keys(settings).length ? { settings } : {}) });
  });
  return keys;
}

export function loadApiKeys(apiKeys: string, apiKeysFile: string): ApiKey[] {
  return [...parseApiKeys(apiKeys), ...(apiKeysFile ? readKeysFile(apiKeysFile) : [])];
}

/**
 * Creates a key for `tenant`, appends its hash to `file` (0600), and returns the key — the only
 * time it exists in clear.
 *
 * @example
 * const key = createApiKey('./data/api-keys', 'acme'); // "ha_…"
 */
export function createApiKey(file: string, tenant: string): string {
  if (!TENANT_PATTERN.test(tenant)) throw new Error('the tenant must be 1-64 characters of A-Z a-z 0-9 _ -');
  const key = `ha_${randomBytes(32).toString('base64url')}`;
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const header = existsSync(file) ? '' : '# hyperadapt API keys: tenant:sha256(key). Created by `npm run keys -- create`.\n';
  appendFileSync(file, `${header}${tenant}:${hashKey(key).toString('hex')}\n`, { mode: 0o600 });
  return key;
}
