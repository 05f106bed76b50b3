/** Per-tenant settings carried by keys-file lines, and the quotas they give. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashKey, readKeysFile } from '../../src/auth/api-keys.js';
import { TenantSettings } from '../../src/tenants/tenant-settings.js';

const hex = (k: string) => hashKey(k).toString('hex');
function keysFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'keys-')), 'api-keys');
  writeFileSync(file, text);
  return file;
}

describe('keys-file settings', () => {
  it('reads quota_bytes after the hash; other lines keep the default', () => {
    const keys = readKeysFile(keysFile(`# c\nacme:${hex('a')}   quota_bytes=1048576\nbeta:${hex('b')}\n`));
    expect(keys.map((k) => [k.tenant, k.settings])).toEqual([['acme', { quotaBytes: 1048576 }], ['beta', undefined]]);
    const settings = new TenantSettings({ defaultQuotaBytes: 5000, keys });
    expect(settings.quotaBytes('acme')).toBe(1048576);
    expect(settings.quotaBytes('beta')).toBe(5000);
    expect(new TenantSettings({ keys }).quotaBytes('beta')).toBe(0);
  });

  it.each([
    [`acme:${hex('a')} quota_bytes=-1`, /:1: quota_bytes must be a whole number/],
    [`acme:${hex('a')} quota_bytes=0`, /quota_bytes must be a whole number of bytes ≥ 1/],
    [`acme:${hex('a')} quota_bytes=10GB`, /quota_bytes must be a whole number/],
    [`acme:${hex('a')} colour=blue`, /unknown setting "colour" \(known: quota_bytes, weight, max_running\)/],
    [`acme:${hex('a')} weight=0`, /weight must be a whole number from 1 to 100/],
    [`acme:${hex('a')} max_running=x`, /max_running must be a whole number/],
    [`acme:${hex('a')}quota_bytes=5`, /expected "tenant:<sha256 hex of the key> \[name=value …\]"/],
  ])('refuses %s with a message naming the line', (line, message) => {
    expect(() => readKeysFile(keysFile(`${line}\n`))).toThrow(message);
  });

  it('refuses two different quotas for one tenant', () => {
    const keys = readKeysFile(keysFile(`acme:${hex('a')} quota_bytes=10\nacme:${hex('b')} quota_bytes=20\n`));
    expect(() => new TenantSettings({ keys })).toThrow(/two different quota_bytes \(10 and 20\)/);
  });

  it('reads weights and running caps; only tenants with their own are scheduling overrides', () => {
    const keys = readKeysFile(keysFile(`alpha:${hex('a')} weight=2\nbeta:${hex('b')} max_running=3 quota_bytes=9\ngamma:${hex('c')}\n`));
    const settings = new TenantSettings({ defaultMaxRunning: 10, keys });
    expect([settings.weight('alpha'), settings.weight('gamma'), settings.maxRunning('alpha'), settings.maxRunning('beta')]).toEqual([2, 1, 10, 3]);
    expect(settings.schedulingOverrides()).toEqual([{ tenant: 'alpha', weight: 2, maxRunning: 10 }, { tenant: 'beta', weight: 1, maxRunning: 3 }]);
  });
});
